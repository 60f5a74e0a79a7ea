//! Which architecture, weights and vocabulary a job starts from, and on which device.

use std::path::{Path, PathBuf};

use crate::device::DeviceRequest;
use albert_model::{AlbertConfig, PretrainedWeights};
use anyhow::{Context, Result};
use sagemaker_contract::{
    DataChannels, Device as DeviceChoice, Hyperparameters, PretrainedSource, SageMakerPaths,
};
use tracing::info;

/// Default architecture when neither weights nor `bert_config_file` say otherwise.
pub const DEFAULT_CONFIG: &str = "albert_config/albert_config_tiny.json";

/// The model a job starts from.
pub struct ModelSource {
    pub config: AlbertConfig,
    pub weights: Option<PretrainedWeights>,
    pub vocab: PathBuf,
    /// Where the weights came from, or why there are none (for the log's first lines).
    pub origin: String,
}

/// Relative paths in hyperparameters resolve against the working directory (the image ships
/// `albert_config/` and `albert_base_zh/` there, at the paths the SageMaker NER article uses).
pub fn resolve_relative(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

impl ModelSource {
    /// Weights come from the one [`PretrainedSource`] given, else checkpoint files next to
    /// `bert_config_file` (the albert_zh release layout); with none, training starts from scratch.
    pub fn resolve(
        paths: &SageMakerPaths,
        hp: &Hyperparameters,
        channels: &DataChannels,
        scratch: &Path,
    ) -> Result<Self> {
        let config_path = hp.bert_config_file.as_deref().map(resolve_relative);
        let user_config = match &config_path {
            Some(p) => Some(
                AlbertConfig::from_json_file(p)
                    .with_context(|| format!("bert_config_file {}", p.display()))?,
            ),
            None => None,
        };
        let (location, what) = match PretrainedSource::resolve(paths, hp, channels)? {
            Some(PretrainedSource::Local(p)) => {
                (Some(resolve_relative(&p)), "the pretrained source")
            }
            Some(PretrainedSource::S3(uri)) => {
                (Some(fetch_s3(&uri, scratch)?), "pretrained_model_uri")
            }
            None => (
                config_path.as_deref().and_then(weights_beside),
                "the directory of bert_config_file",
            ),
        };
        let vocab_hp = resolve_relative(&hp.vocab_file);
        let Some(location) = location else {
            let config = match user_config {
                Some(c) => c,
                None => AlbertConfig::from_json_file(resolve_relative(Path::new(DEFAULT_CONFIG)))
                    .with_context(|| format!("default config {DEFAULT_CONFIG}"))?,
            };
            let arch =
                config_path.map_or_else(|| DEFAULT_CONFIG.to_string(), |p| p.display().to_string());
            return Ok(Self {
                config,
                weights: None,
                vocab: vocab_hp,
                origin: format!(
                    "no pretrained weights (no pretrained channel, init_checkpoint, pretrained_model_uri, or \
                     checkpoint beside the config): training from scratch with the architecture of {arch}"
                ),
            });
        };
        let weights = match user_config {
            Some(c) => PretrainedWeights::open_with_config(&location, Some(c)),
            None => PretrainedWeights::open(&location),
        }
        .with_context(|| format!("pretrained weights from {what} ({})", location.display()))?;
        let vocab = match weights.vocab_path() {
            Some(p) => p.to_path_buf(),
            None => weights.extract_vocab(scratch)?.unwrap_or(vocab_hp),
        };
        Ok(Self {
            config: weights.config().clone(),
            origin: format!(
                "pretrained weights ({:?}) from {what}: {}",
                weights.format(),
                location.display()
            ),
            weights: Some(weights),
            vocab,
        })
    }
}

/// A checkpoint in the same directory as the config file (the albert_zh release layout).
fn weights_beside(config: &Path) -> Option<PathBuf> {
    let dir = config.parent()?;
    let entries = std::fs::read_dir(dir).ok()?;
    let has_weights = entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(".index") || name == "model.safetensors" || name == "pytorch_model.bin"
    });
    has_weights.then(|| dir.to_path_buf())
}

fn fetch_s3(uri: &str, scratch: &Path) -> Result<PathBuf> {
    let dest = scratch.join("pretrained");
    info!("downloading pretrained weights from {uri}");
    s3_fetch::download(uri, &dest).with_context(|| format!("pretrained_model_uri {uri}"))
}

/// The device to train on (see [`crate::device::select`]).
pub fn device(choice: DeviceChoice) -> Result<tch::Device> {
    crate::device::select(match choice {
        DeviceChoice::Cpu => DeviceRequest::Cpu,
        DeviceChoice::Cuda => DeviceRequest::Cuda,
        DeviceChoice::Auto => DeviceRequest::Auto,
    })
}

/// Bytes per parameter that training holds: fp32 weights, gradients and AdamW's two moments.
const TRAINING_BYTES_PER_PARAMETER: f64 = 16.0;

/// Refuses a config whose training state cannot fit in this machine's memory, before libtorch
/// tries (and aborts on) the allocation. On a GPU the weights still pass through host memory when
/// the model is saved, so the host bound applies to them there.
pub fn check_fits_in_memory(config: &AlbertConfig, device: tch::Device) -> Result<()> {
    let Some(available) = available_memory_bytes() else {
        return Ok(());
    };
    let parameters = config.parameter_count();
    let needed = match device {
        tch::Device::Cpu => parameters * TRAINING_BYTES_PER_PARAMETER,
        _ => parameters * 4.0,
    };
    if needed > available as f64 {
        anyhow::bail!(
            "the model config is too large for this machine: {parameters:.3e} parameters need {:.1} GB \
             for training but {:.1} GB of memory is available (vocab_size={}, embedding_size={}, \
             hidden_size={}, intermediate_size={}, num_hidden_groups={}, inner_group_num={}, \
             max_position_embeddings={})",
            needed / 1e9,
            available as f64 / 1e9,
            config.vocab_size,
            config.embedding_size,
            config.hidden_size,
            config.intermediate_size,
            config.num_hidden_groups,
            config.inner_group_num,
            config.max_position_embeddings
        );
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo, in bytes; `None` where it cannot be read.
fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
