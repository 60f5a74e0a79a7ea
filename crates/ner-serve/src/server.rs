//! The server's life: warm up, listen, serve until SIGTERM, then finish what is in flight and exit
//! within SageMaker's 30 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ner_infer::{Batching, TrainedModel};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::batcher::{BatchSettings, Batcher};
use crate::routes::{router, AppState};

/// Everything [`run`] needs besides the model.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub port: u16,
    pub max_payload_bytes: usize,
    pub request_timeout: Duration,
    pub batch: BatchSettings,
    pub max_concurrent_transforms: usize,
    /// libtorch's intra-op threads (already set by the caller; logged here).
    pub threads: usize,
    /// After SIGTERM, how long requests in flight may take before the process exits anyway
    /// (SageMaker sends SIGKILL 30 s after SIGTERM).
    pub drain_limit: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the warm-up inference failed: {0}")]
    WarmUp(String),
    #[error("cannot listen on port {port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP runtime failed: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Warms `model` up, serves it on `0.0.0.0:port` and returns after SIGTERM or SIGINT once the
/// requests in flight are answered.
pub fn run(model: TrainedModel, settings: ServerSettings) -> Result<(), ServeError> {
    let warm = warm_up(&model, settings.batch.max_batch_tokens)?;
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
        log_start(&model, &settings, warm);
        let (batcher, inference) = Batcher::start(model, settings.batch);
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

/// One inference before listening, so that the first request does not pay for libtorch's lazy
/// initialisation and a model that cannot tag never reports healthy.
fn warm_up(model: &TrainedModel, max_batch_tokens: usize) -> Result<Duration, ServeError> {
    let started = Instant::now();
    let texts = ["张三在北京大学工作。", "warm-up"];
    model
        .tag(&texts, Batching::Tokens(max_batch_tokens), true, || true)
        .map_err(|e| ServeError::WarmUp(e.to_string()))?;
    Ok(started.elapsed())
}

fn log_start(model: &TrainedModel, s: &ServerSettings, warm: Duration) {
    let labels: Vec<&str> = (0..model.labels.len())
        .map(|i| model.labels.name(i as i64))
        .collect();
    info!(
        "serve: model {} ({:?} head, hidden {}, {} layers), labels [{}], device {:?}, precision {:?}, \
         threads {}, port {}, batches of ≤ {} tokens after ≤ {} ms, queue ≤ {} inputs, payload ≤ {} MB, \
         timeout {} s, warm-up {} ms",
        model.dir.display(),
        model.spec.head,
        model.spec.albert.hidden_size,
        model.spec.albert.num_hidden_layers,
        labels.join(", "),
        model.device,
        model.precision,
        s.threads,
        s.port,
        s.batch.max_batch_tokens,
        s.batch.max_batch_delay.as_millis(),
        s.batch.max_queued_inputs,
        s.max_payload_bytes / (1024 * 1024),
        s.request_timeout.as_secs(),
        warm.as_millis(),
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
