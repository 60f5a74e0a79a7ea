//! A host's agent: starts its workers, passes SIGTERM on, and turns their exits into the job's.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tracing::info;

use super::host::WORKER_HOST_ENV;
use super::local_workers::{run_local_workers, WorkersExit};
use super::outcome::{Finished, EXIT_STOPPED};
use super::worker_env::WorkerEnv;
use crate::error::DistError;

/// Set in a worker that an [`Agent`] started: where the worker writes its failure reason, which the
/// agent turns into the job's failure.
pub const WORKER_FAILURE_FILE_ENV: &str = "ALBERT_NER_WORKER_FAILURE_FILE";

/// This host's workers and how to watch them.
#[derive(Debug)]
pub struct Agent<'a> {
    pub workers: &'a [WorkerEnv],
    /// This host's name, in the workers' failure reports.
    pub host: &'a str,
    /// The job's network interface: collectives go over it (as SageMaker's toolkits set
    /// `GLOO_SOCKET_IFNAME` and `NCCL_SOCKET_IFNAME`) unless the environment already says.
    pub network_interface: Option<&'a str>,
    /// How long the others may run on after one worker failed (their own collectives fail within the
    /// distributed timeout; this is the backstop).
    pub grace: Duration,
    /// How long the workers may take to stop after SIGTERM before they are killed and the first
    /// still running is named: [`STOP_DEADLINE`](super::local_workers::STOP_DEADLINE) in a job.
    pub stop_deadline: Duration,
}

impl Agent<'_> {
    /// Starts every worker as `worker_command()` with its variables, and waits: every worker done is
    /// success, every worker stopped is a stop, and otherwise the first worker to fail is the cause.
    pub fn run(
        &self,
        worker_command: impl Fn() -> Command,
        stop: &AtomicBool,
    ) -> Result<Finished, DistError> {
        let (workers, host) = (self.workers, self.host);
        let reports = std::env::temp_dir().join(format!("albert-ner-agent-{}", std::process::id()));
        std::fs::create_dir_all(&reports).map_err(|e| agent_io("creating", &reports, e))?;
        let report_of = |rank: usize| reports.join(format!("rank-{rank}.failure"));
        info!(
            "starting {} workers on {host} (ranks {}..={} of world size {}); master {}:{}",
            workers.len(),
            workers[0].rank,
            workers[workers.len() - 1].rank,
            workers[0].world_size,
            workers[0].master_addr,
            workers[0].master_port
        );
        let command = |w: &WorkerEnv| {
            let mut c = worker_command();
            c.env(WORKER_FAILURE_FILE_ENV, report_of(w.rank))
                .env(WORKER_HOST_ENV, host);
            if let Some(ifname) = self.network_interface {
                for var in ["GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"] {
                    if std::env::var_os(var).is_none() {
                        c.env(var, ifname);
                    }
                }
            }
            c
        };
        let exit = run_local_workers(command, workers, stop, self.grace, self.stop_deadline)
            .map_err(|e| DistError::Agent(format!("starting the worker processes: {e}")))?;
        let outcome = self.outcome(&exit, &report_of);
        let _ = std::fs::remove_dir_all(&reports);
        outcome
    }

    fn outcome(
        &self,
        exit: &WorkersExit,
        report_of: &dyn Fn(usize) -> PathBuf,
    ) -> Result<Finished, DistError> {
        let stopped = |s: &ExitStatus| s.code() == Some(i32::from(EXIT_STOPPED));
        let report = |i: usize| {
            std::fs::read_to_string(report_of(self.workers[i].rank))
                .ok()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
        };
        if exit.statuses.iter().all(ExitStatus::success) {
            info!("all {} workers finished", self.workers.len());
            return Ok(Finished::Completed);
        }
        if let Some(&hung) = exit.not_stopping.first() {
            return Err(self.worker_failed(
                hung,
                format!(
                    "did not stop within {:?} of SIGTERM (hung, or paused with SIGSTOP); killed",
                    self.stop_deadline
                ),
            ));
        }
        if exit.statuses.iter().all(|s| s.success() || stopped(s)) {
            // A worker stopped while blocked on the others says what it was waiting for.
            let waiting = (0..exit.statuses.len()).find_map(|i| Some((i, report(i)?)));
            return match waiting {
                None => Ok(Finished::Stopped),
                Some((i, reason)) => Err(DistError::WorkerStopped {
                    rank: self.workers[i].rank,
                    host: self.host.to_string(),
                    reason,
                }),
            };
        }
        // A worker still running long after another failed was hung: the cause, with what the first
        // failure said about losing it.
        if let (Some(&hung), Some(first)) = (exit.not_exiting.first(), exit.first_failure) {
            let first_said = report(first).unwrap_or_else(|| describe(exit.statuses[first]));
            return Err(self.worker_failed(
                hung,
                format!(
                    "stopped answering (hung or paused): still running {:?} after rank {} failed, \
                     killed; rank {} reported: {first_said}",
                    self.grace, self.workers[first].rank, self.workers[first].rank
                ),
            ));
        }
        // A worker killed by a signal is the cause; the others' errors are what its death did to them.
        let killed = exit.statuses.iter().position(|s| s.signal().is_some());
        let first = killed
            .or(exit.first_failure)
            .or_else(|| {
                exit.statuses
                    .iter()
                    .position(|s| !s.success() && !stopped(s))
            })
            .unwrap_or(0);
        let reason = report(first).unwrap_or_else(|| describe(exit.statuses[first]));
        Err(self.worker_failed(first, reason))
    }

    fn worker_failed(&self, local_rank: usize, reason: String) -> DistError {
        DistError::WorkerFailed {
            rank: self.workers[local_rank].rank,
            local_rank,
            host: self.host.to_string(),
            reason,
        }
    }
}

fn agent_io(action: &str, path: &Path, e: std::io::Error) -> DistError {
    DistError::Agent(format!("{action} {}: {e}", path.display()))
}

/// An exit status in words, naming the usual cause of a kill.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (_, Some(9)) => "killed by SIGKILL (often the kernel's out-of-memory killer)".into(),
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), _) => format!("exited with status {code} without a reason"),
        _ => format!("{status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(n: usize) -> Vec<WorkerEnv> {
        (0..n)
            .map(|r| WorkerEnv {
                rank: 4 + r,
                world_size: 8,
                local_rank: r,
                local_world_size: n,
                master_addr: "algo-1".into(),
                master_port: 7777,
            })
            .collect()
    }

    fn agent_of(workers: &[WorkerEnv]) -> Agent<'_> {
        Agent {
            workers,
            host: "algo-2",
            network_interface: None,
            grace: Duration::from_secs(1),
            stop_deadline: crate::launch::local_workers::STOP_DEADLINE,
        }
    }

    /// `wait(2)` statuses: an exit code, or death by a signal.
    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }
    fn killed(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    fn outcome(
        statuses: Vec<ExitStatus>,
        first_failure: Option<usize>,
        reports: &Path,
    ) -> Result<Finished, DistError> {
        let w = workers(statuses.len());
        let agent = agent_of(&w);
        let exit = WorkersExit {
            statuses,
            first_failure,
            not_stopping: Vec::new(),
            not_exiting: Vec::new(),
        };
        agent.outcome(&exit, &|rank| reports.join(format!("rank-{rank}.failure")))
    }

    #[test]
    fn every_worker_done_completes_and_stopped_ones_stop() {
        let dir = tempfile::tempdir().unwrap();
        let ok = outcome(vec![exited(0), exited(0)], None, dir.path()).unwrap();
        assert_eq!(ok, Finished::Completed);
        let stopped = i32::from(EXIT_STOPPED);
        let stop = outcome(vec![exited(stopped), exited(0)], None, dir.path()).unwrap();
        assert_eq!(stop, Finished::Stopped);
        // A worker stopped while waiting on the others left its reason: the stop is reported with it.
        std::fs::write(
            dir.path().join("rank-5.failure"),
            "stopped by SIGTERM while waiting for the master host algo-1 to resolve\n",
        )
        .unwrap();
        let err = outcome(vec![exited(stopped), exited(stopped)], None, dir.path()).unwrap_err();
        assert!(err.is_stop());
        assert_eq!(
            err.to_string(),
            "rank 5 on host algo-2: stopped by SIGTERM while waiting for the master host algo-1 to resolve"
        );
    }

    #[test]
    fn a_worker_that_does_not_stop_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let w = workers(2);
        let agent = agent_of(&w);
        let exit = WorkersExit {
            statuses: vec![exited(i32::from(EXIT_STOPPED)), killed(9)],
            first_failure: None,
            not_stopping: vec![1],
            not_exiting: Vec::new(),
        };
        let err = agent
            .outcome(&exit, &|rank| {
                dir.path().join(format!("rank-{rank}.failure"))
            })
            .unwrap_err();
        assert!(!err.is_stop());
        let text = err.to_string();
        assert!(
            text.starts_with(
                "rank 5 (local rank 1) on host algo-2 failed: did not stop within 100s"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_failed_worker_is_named_with_its_own_report_or_how_it_died() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rank-5.failure"),
            "bad data in train.txt line 3\n",
        )
        .unwrap();
        let err = outcome(vec![exited(0), exited(1)], Some(1), dir.path())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "rank 5 (local rank 1) on host algo-2 failed: bad data in train.txt line 3"
        );
        // A worker killed by a signal is the cause, even when another failed first; with no report
        // of its own, how it died is the reason.
        let no_reports = tempfile::tempdir().unwrap();
        let err = outcome(vec![exited(1), killed(9)], Some(0), no_reports.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("rank 5 (local rank 1) on host algo-2 failed: killed by SIGKILL"),
            "{err}"
        );
    }
}
