//! How a process of the job ends when it does not fail.

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
