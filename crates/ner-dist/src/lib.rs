//! Data parallelism's plumbing on libtorch's own c10d, the engine of `torch.distributed` and DDP: a
//! process group (TCPStore rendezvous; Gloo for CPU tensors, NCCL for CUDA ones, the latter from a
//! library loaded only on GPUs) with the collectives
//! training needs, and torchrun's launch contract. What the trainer does with them (sharding, gradient
//! averaging) is `ner-train`'s; where the hosts are is the caller's.

mod error;
mod ffi;
mod group;
pub mod launch;
mod nccl;

pub use error::DistError;
pub use group::{Backend, ProcessGroup, Rendezvous};
pub use launch::{run_local_workers, WorkerEnv, WorkersExit};
pub use nccl::load_nccl;

/// DDP's default gradient bucket size (25 MiB).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;
