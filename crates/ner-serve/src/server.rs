//! The server's life: warm up, listen, serve until SIGTERM, then finish what is in flight and exit
//! within SageMaker's 30 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ner_infer::TrainedModel;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::batcher::{BatchSettings, Batcher, Ready};
use crate::routes::{router, AppState};

/// Everything [`run`] needs besides the model.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub port: u16,
    pub max_payload_bytes: usize,
    pub request_timeout: Duration,
    pub batch: BatchSettings,
    pub max_concurrent_transforms: usize,
    /// libtorch's intra-op threads for the inference thread.
    pub threads: usize,
    /// After SIGTERM, how long requests in flight may take before the process exits anyway
    /// (SageMaker sends SIGKILL 30 s after SIGTERM).
    pub drain_limit: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The model could not be loaded or could not tag its warm-up input.
    #[error("{0}")]
    Model(String),
    #[error("cannot listen on port {port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP runtime failed")]
    Runtime(#[from] std::io::Error),
}

/// Loads the model with `load` (in the inference thread), warms it up, serves it on `0.0.0.0:port` and
/// returns after SIGTERM or SIGINT once the requests in flight are answered.
pub fn run<F>(load: F, settings: ServerSettings) -> Result<(), ServeError>
where
    F: FnOnce() -> Result<TrainedModel, String> + Send + 'static,
{
    let (batcher, inference, ready) =
        Batcher::start(load, settings.batch, settings.threads).map_err(ServeError::Model)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let address = SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Bind {
                port: settings.port,
                source,
            })?;
        log_start(&ready, &settings);
        let state = Arc::new(AppState {
            batcher,
            max_payload_bytes: settings.max_payload_bytes,
            request_timeout: settings.request_timeout,
            max_concurrent_transforms: settings.max_concurrent_transforms,
        });
        axum::serve(listener, router(state))
            .with_graceful_shutdown(stop_signal(settings.drain_limit))
            .await?;
        // The router (and with it the last Batcher) is gone: the thread finishes its queue and ends.
        let _ = tokio::task::spawn_blocking(move || inference.join()).await;
        info!("serve: stopped");
        Ok(())
    })
}

fn log_start(ready: &Ready, s: &ServerSettings) {
    info!(
        "serve: model {}, threads {}, port {}, batches of ≤ {} tokens after ≤ {} ms, queue ≤ {} inputs, \
         payload ≤ {} MB, timeout {} s, warm-up {} ms",
        ready.model,
        s.threads,
        s.port,
        s.batch.max_batch_tokens,
        s.batch.max_batch_delay.as_millis(),
        s.batch.max_queued_inputs,
        s.max_payload_bytes / (1024 * 1024),
        s.request_timeout.as_secs(),
        ready.warm_up.as_millis(),
    );
}
/// Resolves at SIGTERM or SIGINT, and from then on bounds the drain: past `drain_limit` the process
/// exits even if a request is still running.
async fn stop_signal(drain_limit: Duration) {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(
        "serve: {name}: no new connections; finishing the requests in flight (at most {} s)",
        drain_limit.as_secs()
    );
    std::thread::spawn(move || {
        std::thread::sleep(drain_limit);
        warn!(
            "serve: requests still running {} s after the stop signal; exiting",
            drain_limit.as_secs()
        );
        std::process::exit(0);
    });
}
