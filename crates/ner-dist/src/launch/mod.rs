//! Launching a data-parallel job, as torchrun does: who this process is ([`decide`]: trains alone, is
//! its host's agent, or is a worker), the agent that starts and watches its host's workers
//! ([`Agent`]), and a worker's side (joining the group, its device, reporting its failure to the
//! others). The caller says where the hosts are and how many workers each runs ([`LaunchSettings`],
//! [`Hosts`]); nothing here knows SageMaker.

mod agent;
mod host;
mod local_workers;
mod outcome;
mod policy;
mod worker;
mod worker_env;

pub use agent::{Agent, WORKER_FAILURE_FILE_ENV};
pub use local_workers::{run_local_workers, WorkersExit, STOP_DEADLINE};
pub use outcome::{Finished, EXIT_STOPPED};
pub use policy::{decide, Hosts, Launch, LaunchSettings};
pub use worker::{join, report_failure, worker_device, worker_host};
pub use worker_env::WorkerEnv;
