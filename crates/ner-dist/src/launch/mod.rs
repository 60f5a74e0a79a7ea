//! Launching a data-parallel job, as torchrun does: who this process is ([`decide`]: trains alone, is
//! its host's agent, or is a worker), the agent that starts and watches its host's workers
//! ([`Agent`]), and a worker's side (joining the group, its device, reporting its failure to the
//! others). The caller says where the hosts are and how many workers each runs ([`LaunchSettings`],
//! [`Hosts`]); nothing here knows SageMaker.

mod agent;
mod local_workers;
mod policy;
mod worker;
mod worker_env;

pub use agent::{Agent, WORKER_FAILURE_FILE_ENV};
pub use local_workers::{run_local_workers, WorkersExit};
pub use policy::{decide, Hosts, Launch, LaunchSettings};
pub use worker::{join, report_failure, worker_device, worker_host};
pub use worker_env::WorkerEnv;

/// How a job (or a worker, or an agent's workers) that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Completed,
    /// Stopped by SIGTERM; a restart resumes from the checkpoint written.
    Stopped,
}

/// Exit status of a process stopped by SIGTERM (128 + 15, as a shell reports it): how an agent
/// tells a stopped worker from a failed one.
pub const EXIT_STOPPED: u8 = 143;

/// Set in a worker that an [`Agent`] started: the host name its failures report.
const WORKER_HOST_ENV: &str = "ALBERT_NER_HOST";

/// This machine's name for messages outside SageMaker.
fn current_host() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}
