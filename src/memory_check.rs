//! Refusing a model whose tensors cannot fit in this machine's memory, before libtorch tries (and
//! aborts the process on) the allocation: an absurd config must be a clear error, not a crash. The
//! memory available is the least of the kernel's `MemAvailable`, the container's cgroup limit less
//! what the cgroup already uses, and `RLIMIT_AS` less the address space already mapped.

use albert_model::{EncoderSpec, Transformer};
use anyhow::{bail, Result};
use tracing::{info, warn};

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
    let Some(Available {
        bytes: available, ..
    }) = available_memory()
    else {
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

/// Refuses a training batch whose weights, optimiser state and activations (estimated per encoder,
/// `EncoderSpec::training_activations_per_sequence`) exceed the memory available, naming the largest
/// `train_batch_size` that fits; warns when it takes more than 80 % (the estimate is approximate). On
/// a GPU the activations live in device memory, which this does not see.
pub fn check_training_batch_fits(
    encoder: &EncoderSpec,
    batch: usize,
    max_seq_length: usize,
    device: tch::Device,
) -> Result<()> {
    if device.is_cuda() {
        return Ok(());
    }
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let fixed = LIBTORCH_RUNTIME_BYTES
        + encoder.parameter_count() * Use::Training(device).bytes_per_parameter();
    let per_sequence = encoder.training_activations_per_sequence(max_seq_length) * 4.0;
    let needed = fixed + per_sequence * batch as f64;
    let limit = available.bytes as f64;
    let gb = |b: f64| b / 1e9;
    info!(
        "memory: training needs about {:.1} GB (libtorch, weights and optimiser {:.1} GB, activations {:.1} GB for \
         train_batch_size {batch} × max_seq_length {max_seq_length}); {:.1} GB available ({})",
        gb(needed),
        gb(fixed),
        gb(needed - fixed),
        gb(limit),
        available.source
    );
    if needed > limit {
        let fits = ((limit - fixed) / per_sequence).floor().max(0.0) as usize;
        bail!(
            "train_batch_size={batch} with max_seq_length={max_seq_length} needs about {:.1} GB of memory \
             but {:.1} GB is available ({}): the largest batch that fits is about {fits}; lower \
             train_batch_size (raise gradient_accumulation_steps to keep the effective batch) or \
             max_seq_length",
            gb(needed),
            gb(limit),
            available.source
        );
    }
    if needed > 0.8 * limit {
        warn!(
            "training may run out of memory: about {:.1} GB of {:.1} GB available ({}); the estimate is \
             approximate",
            gb(needed),
            gb(limit),
            available.source
        );
    }
    Ok(())
}

/// The memory available now and which limit that is ("24.1 GB available at the start
/// (MemAvailable)"), for a failure that memory may explain.
pub fn available_memory_note() -> Option<String> {
    available_memory().map(|a| {
        format!(
            "{:.1} GB available at the start ({})",
            a.bytes as f64 / 1e9,
            a.source
        )
    })
}

/// What the process holds before any model: libtorch's code and allocator pools (about 200 MB of RSS
/// measured at the start of a CPU job).
const LIBTORCH_RUNTIME_BYTES: f64 = 256e6;

/// Memory this process may still use, and which limit that is.
#[derive(Debug, Clone, PartialEq)]
struct Available {
    bytes: u64,
    source: &'static str,
}

/// The least of the limits that can be read; `None` when none can.
fn available_memory() -> Option<Available> {
    let limits = [
        (mem_available_bytes(), "MemAvailable"),
        (
            cgroup_available_bytes(),
            "the container's cgroup memory limit",
        ),
        (address_space_left_bytes(), "RLIMIT_AS"),
    ];
    limits
        .into_iter()
        .filter_map(|(bytes, source)| {
            Some(Available {
                bytes: bytes?,
                source,
            })
        })
        .min_by_key(|a| a.bytes)
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn mem_available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The cgroup's limit less its working set (usage less reclaimable file cache), cgroup v2 or v1;
/// `None` without a limit.
fn cgroup_available_bytes() -> Option<u64> {
    cgroup_available_under(std::path::Path::new("/sys/fs/cgroup"))
}

/// [`cgroup_available_bytes`] with the cgroup filesystem mounted at `root`.
fn cgroup_available_under(root: &std::path::Path) -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).ok();
    let number = |text: Option<String>| text?.trim().parse::<u64>().ok();
    let stat_field = |text: &Option<String>, key: &str| {
        text.as_ref()?
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    let v2 = number(read("memory.max"));
    let (limit, usage, inactive_file) = match v2 {
        Some(limit) => {
            let stat = read("memory.stat");
            (
                limit,
                number(read("memory.current"))?,
                stat_field(&stat, "inactive_file "),
            )
        }
        None => {
            let stat = read("memory/memory.stat");
            (
                number(read("memory/memory.limit_in_bytes"))?,
                number(read("memory/memory.usage_in_bytes"))?,
                stat_field(&stat, "total_inactive_file "),
            )
        }
    };
    // v1 reports "no limit" as a huge page-aligned number.
    if limit >= 1 << 60 {
        return None;
    }
    let working_set = usage.saturating_sub(inactive_file.unwrap_or(0));
    Some(limit.saturating_sub(working_set))
}

/// `RLIMIT_AS` less this process's mapped address space (`VmSize`); `None` when unlimited.
fn address_space_left_bytes() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) fills the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mapped = kib_field(&status, "VmSize:")?;
    Some(limit.rlim_cur.saturating_sub(mapped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_cgroup_limit_less_its_working_set_is_available() {
        // v2: 4 GiB limit, 3 GiB used of which 1 GiB is reclaimable file cache.
        let v2 = tree(&[
            ("memory.max", "4294967296\n"),
            ("memory.current", "3221225472\n"),
            (
                "memory.stat",
                "anon 2147483648\ninactive_file 1073741824\nactive_file 5\n",
            ),
        ]);
        assert_eq!(cgroup_available_under(v2.path()), Some(2 << 30));
        // v2 without a limit.
        let unlimited = tree(&[("memory.max", "max\n"), ("memory.current", "1\n")]);
        assert_eq!(cgroup_available_under(unlimited.path()), None);
        // v1: 2 GiB limit, 1.5 GiB used, 0.5 GiB of it inactive file cache.
        let v1 = tree(&[
            ("memory/memory.limit_in_bytes", "2147483648\n"),
            ("memory/memory.usage_in_bytes", "1610612736\n"),
            (
                "memory/memory.stat",
                "cache 1\ntotal_inactive_file 536870912\n",
            ),
        ]);
        assert_eq!(cgroup_available_under(v1.path()), Some(1 << 30));
        // v1's "no limit".
        let v1_unlimited = tree(&[
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory/memory.usage_in_bytes", "1\n"),
        ]);
        assert_eq!(cgroup_available_under(v1_unlimited.path()), None);
        assert_eq!(cgroup_available_under(tree(&[]).path()), None);
    }
}
