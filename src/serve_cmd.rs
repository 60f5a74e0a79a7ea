//! `serve`: what SageMaker runs (`docker run IMAGE serve`) for an endpoint or a batch transform. It
//! serves the model the training job wrote, unpacked by SageMaker into `/opt/ml/model`
//! (`SAGEMAKER_BASE_DIR` replaces `/opt/ml`), with the settings of its environment.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use ner_serve::{BatchSettings, ServerSettings};
use ner_settings::Device;
use sagemaker_contract::{SageMakerPaths, ServingEnv};

/// Serve a model trained by `train` over HTTP (SageMaker's /ping and /invocations).
#[derive(Parser, Debug)]
#[command(name = "serve", version)]
pub struct Args {
    /// The model directory; default `/opt/ml/model` (under `SAGEMAKER_BASE_DIR` when set).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// `cpu`, `cuda` (or `gpu`) or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: Device,
}

/// SageMaker sends SIGKILL 30 s after SIGTERM; the drain ends before that.
const DRAIN_LIMIT: Duration = Duration::from_secs(25);

/// Padded tokens per forward pass when `ALBERT_NER_MAX_BATCH_TOKENS` is unset. On a CPU, batches of
/// 512 tokens tagged MSRA sentences fastest (tiny: 285 sentences/s against 200 at 4096; the larger batch
/// pads more and falls out of cache, `examples/tag_bench` in ner-infer); a GPU wants large ones.
const CPU_BATCH_TOKENS: usize = 512;
const GPU_BATCH_TOKENS: usize = 8192;

/// Loads the model and serves it until SIGTERM.
pub fn run(args: &Args) -> Result<()> {
    let env = ServingEnv::from_env()?;
    let dir = match &args.model_dir {
        Some(dir) => dir.clone(),
        None => SageMakerPaths::from_env()?.model_dir,
    };
    let device = crate::device::select(args.device)?;
    let threads = env.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    tch::set_num_interop_threads(1);
    let settings = ServerSettings {
        port: env.port,
        max_payload_bytes: env.max_payload_bytes(),
        request_timeout: env.request_timeout,
        batch: BatchSettings {
            max_batch_tokens: env.max_batch_tokens.unwrap_or(if device.is_cuda() {
                GPU_BATCH_TOKENS
            } else {
                CPU_BATCH_TOKENS
            }),
            max_batch_delay: env.max_batch_delay,
            max_queued_inputs: env.max_queued_inputs,
        },
        max_concurrent_transforms: env.max_concurrent_transforms,
        threads,
        drain_limit: DRAIN_LIMIT,
    };
    let precision = env.precision;
    ner_serve::run(
        move || crate::tagging_model::load(&dir, device, precision).map_err(|e| format!("{e:#}")),
        settings,
    )?;
    Ok(())
}
