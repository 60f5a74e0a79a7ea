//! Data parallelism's plumbing on libtorch's own c10d, the engine of `torch.distributed` and DDP: a
//! process group (TCPStore rendezvous; Gloo for CPU tensors, NCCL for CUDA ones, the latter from a
//! library loaded only on GPUs) with the collectives training needs, and the launch policy
//! (`launch/`: torchrun's contract, who trains, the local agent, a worker's failure report). What the
//! trainer does with them (sharding, gradient averaging) is `ner-train`'s; where the hosts are is the
//! caller's.

mod error;
mod ffi;
mod group;
mod heartbeat;
mod launch;
mod nccl;
mod waits;

pub use error::DistError;
pub use group::{Backend, ProcessGroup, Rendezvous};
pub use launch::{
    decide, join, report_failure, run_local_workers, worker_device, worker_host, Agent, Finished,
    Hosts, Launch, LaunchSettings, WorkerEnv, WorkersExit, EXIT_STOPPED, STOP_DEADLINE,
    WORKER_FAILURE_FILE_ENV,
};
pub use nccl::load_nccl;
pub use waits::watch_stop;

/// DDP's default gradient bucket size (25 MiB).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;
