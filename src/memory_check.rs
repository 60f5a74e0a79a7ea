//! Refusing a model whose tensors cannot fit in this machine's memory, before libtorch tries (and
//! aborts the process on) the allocation: an absurd config must be a clear error, not a crash.

use albert_model::Transformer;
use anyhow::{bail, Result};

/// What a job holds per parameter.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    /// fp32 weights, gradients and AdamW's two moments (16 bytes each, 4 on a GPU: there only the
    /// weights pass through host memory, when the model is saved).
    Training(tch::Device),
    /// fp32 weights (4 bytes each).
    Inference,
}

impl Use {
    fn bytes_per_parameter(self) -> f64 {
        match self {
            Use::Training(tch::Device::Cpu) => 16.0,
            Use::Training(_) | Use::Inference => 4.0,
        }
    }
}

/// Errors, naming the config's sizes, when `config` needs more host memory than is available.
pub fn check_fits_in_memory(config: Transformer<'_>, purpose: Use) -> Result<()> {
    let Some(available) = available_memory_bytes() else {
        return Ok(());
    };
    let parameters = config.parameter_count();
    let needed = parameters * purpose.bytes_per_parameter();
    if needed > available as f64 {
        bail!(
            "the model config is too large for this machine: {parameters:.3e} parameters need {:.1} GB \
             ({}) but {:.1} GB of memory is available ({})",
            needed / 1e9,
            match purpose {
                Use::Training(_) => "training",
                Use::Inference => "the weights",
            },
            available as f64 / 1e9,
            sizes(config)
        );
    }
    Ok(())
}

/// The sizes that make a config large, as its keys name them.
fn sizes(config: Transformer<'_>) -> String {
    match config {
        Transformer::Albert(c) => format!(
            "vocab_size={}, embedding_size={}, hidden_size={}, intermediate_size={}, \
             num_hidden_groups={}, inner_group_num={}, max_position_embeddings={}",
            c.vocab_size,
            c.embedding_size,
            c.hidden_size,
            c.intermediate_size,
            c.num_hidden_groups,
            c.inner_group_num,
            c.max_position_embeddings
        ),
        Transformer::Bert(c) => format!(
            "vocab_size={}, hidden_size={}, intermediate_size={}, num_hidden_layers={}, \
             max_position_embeddings={}",
            c.vocab_size,
            c.hidden_size,
            c.intermediate_size,
            c.num_hidden_layers,
            c.max_position_embeddings
        ),
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes; `None` where it cannot be read.
fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
