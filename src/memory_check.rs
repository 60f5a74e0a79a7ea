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
/// `EncoderSpec::training_activations_per_sequence`) exceed the memory available (host memory on a CPU,
/// the device's free memory on a GPU), naming the largest `train_batch_size` that fits; warns when it
/// takes more than 80 % (the estimate is approximate). `half_activations`: the forward pass runs under
/// fp16/bf16 autocast, whose activations take about half the fp32 estimate.
pub fn check_training_batch_fits(
    encoder: &EncoderSpec,
    batch: usize,
    max_seq_length: usize,
    device: tch::Device,
    half_activations: bool,
) -> Result<()> {
    let parameters = encoder.parameter_count();
    let (available, fixed) = match device {
        tch::Device::Cuda(index) => {
            let Some(bytes) = crate::device::cuda_free_bytes(index) else {
                warn!("the free memory of cuda:{index} cannot be read: the training batch is not checked against it");
                return Ok(());
            };
            let source = "free memory of the GPU (cudaMemGetInfo)";
            // Weights, gradients and AdamW's moments all live on the device.
            (
                Available { bytes, source },
                CUDA_WORKSPACE_BYTES + parameters * 16.0,
            )
        }
        _ => {
            let Some(available) = available_memory() else {
                return Ok(());
            };
            let weights = parameters * Use::Training(device).bytes_per_parameter();
            (available, LIBTORCH_RUNTIME_BYTES + weights)
        }
    };
    let precision = if half_activations { 0.5 } else { 1.0 };
    let per_sequence = encoder.training_activations_per_sequence(max_seq_length) * 4.0 * precision;
    let plan = BatchPlan {
        fixed,
        per_sequence,
        batch,
        limit: available.bytes as f64,
    };
    let gb = |b: f64| b / 1e9;
    info!(
        "memory: training needs about {:.1} GB (runtime, weights and optimiser {:.1} GB, activations {:.1} GB for \
         train_batch_size {batch} × max_seq_length {max_seq_length}); {:.1} GB available ({})",
        gb(plan.needed()),
        gb(fixed),
        gb(plan.needed() - fixed),
        gb(plan.limit),
        available.source
    );
    match plan.verdict() {
        Verdict::Fits => {}
        Verdict::Tight => warn!(
            "training may run out of memory: about {:.1} GB of {:.1} GB available ({}); the estimate is \
             approximate",
            gb(plan.needed()),
            gb(plan.limit),
            available.source
        ),
        Verdict::TooLarge { fits } => bail!(
            "train_batch_size={batch} with max_seq_length={max_seq_length} needs about {:.1} GB of memory \
             but {:.1} GB is available ({}): the largest batch that fits is about {fits}; lower \
             train_batch_size (raise gradient_accumulation_steps to keep the effective batch) or \
             max_seq_length",
            gb(plan.needed()),
            gb(plan.limit),
            available.source
        ),
    }
    Ok(())
}

/// One training batch's memory against a limit, in bytes.
#[derive(Debug, Clone, Copy)]
struct BatchPlan {
    /// What does not grow with the batch: runtime, weights, optimiser state.
    fixed: f64,
    per_sequence: f64,
    batch: usize,
    limit: f64,
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Fits,
    /// Over 80 % of the limit.
    Tight,
    /// Over the limit; `fits` is the largest batch under it.
    TooLarge {
        fits: usize,
    },
}

impl BatchPlan {
    fn needed(&self) -> f64 {
        self.fixed + self.per_sequence * self.batch as f64
    }

    fn verdict(&self) -> Verdict {
        let needed = self.needed();
        if needed > self.limit {
            let fits = ((self.limit - self.fixed) / self.per_sequence)
                .floor()
                .max(0.0) as usize;
            Verdict::TooLarge { fits }
        } else if needed > 0.8 * self.limit {
            Verdict::Tight
        } else {
            Verdict::Fits
        }
    }
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

/// What a GPU job holds on the device besides tensors: cuBLAS/cuDNN workspaces and the caching
/// allocator's fragmentation (the CUDA context itself is already out of the free memory read).
const CUDA_WORKSPACE_BYTES: f64 = 512e6;

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

    #[test]
    fn a_batch_over_the_limit_is_refused_with_the_largest_that_fits_and_one_near_it_warned() {
        let plan = |batch| BatchPlan {
            fixed: 1e9,
            per_sequence: 0.1e9,
            batch,
            limit: 3e9,
        };
        assert_eq!(plan(10).verdict(), Verdict::Fits);
        assert_eq!(plan(15).verdict(), Verdict::Tight);
        assert_eq!(plan(20).verdict(), Verdict::Tight);
        assert_eq!(plan(21).verdict(), Verdict::TooLarge { fits: 20 });
        let nothing_fits = BatchPlan {
            fixed: 4e9,
            ..plan(1)
        };
        assert_eq!(nothing_fits.verdict(), Verdict::TooLarge { fits: 0 });
    }

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
