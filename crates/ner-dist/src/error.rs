use std::time::Duration;

/// What can go wrong joining or using a process group.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error(
        "rank {rank} could not join the process group at {master}:{port} within {timeout:?}: {message}"
    )]
    Connect {
        master: String,
        port: u16,
        rank: usize,
        timeout: Duration,
        message: String,
    },
    #[error("the master host {host} did not resolve within {waited:?}: {message}")]
    Resolve {
        host: String,
        waited: Duration,
        message: String,
    },
    #[error("{op} failed on rank {rank} of {world_size}: {message}")]
    Collective {
        op: &'static str,
        rank: usize,
        world_size: usize,
        message: String,
    },
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        var: &'static str,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Tensor(#[from] tch::TchError),
    #[error(
        "local rank {local_rank} has no GPU: {count} visible; set processes_per_host ≤ {count}"
    )]
    NoDevice { local_rank: usize, count: usize },
    /// The agent could not start or watch its workers.
    #[error("{0}")]
    Agent(String),
    /// A worker failed; `reason` is its own report, or how it exited.
    #[error("rank {rank} (local rank {local_rank}) on host {host} failed: {reason}")]
    WorkerFailed {
        rank: usize,
        local_rank: usize,
        host: String,
        reason: String,
    },
    /// This rank's heartbeat (see `heartbeat.rs`) could not start.
    #[error("the heartbeat through the rendezvous store: {0}")]
    Heartbeat(String),
    /// This rank's collective broke because of another rank: `cause` names it (its own report, or
    /// that it stopped answering) or says that contact was lost; `seen` is this rank's error.
    #[error("{cause}; rank {rank} on host {host} saw: {seen}")]
    LostPeer {
        rank: usize,
        host: String,
        cause: String,
        seen: String,
    },
    /// SIGTERM while this process waited on the others (`what` completes "waiting for").
    #[error("stopped by SIGTERM while waiting for {what}")]
    StoppedWaiting { what: String },
    /// A worker stopped by SIGTERM while blocked on the others; `reason` says on what.
    #[error("rank {rank} on host {host}: {reason}")]
    WorkerStopped {
        rank: usize,
        host: String,
        reason: String,
    },
}

impl DistError {
    /// A stop request ended the work (exit 143: a restart resumes), not a fault.
    pub fn is_stop(&self) -> bool {
        matches!(
            self,
            DistError::WorkerStopped { .. } | DistError::StoppedWaiting { .. }
        )
    }
}
