//! Starting one worker process per device and watching them, as `torchrun --nproc_per_node` does.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::worker_env::WorkerEnv;

/// How the local workers ended.
#[derive(Debug)]
pub struct WorkersExit {
    /// Per local rank, in order.
    pub statuses: Vec<ExitStatus>,
    /// The first worker to fail (local rank), when one did.
    pub first_failure: Option<usize>,
    /// Workers killed because they had not stopped within the stop deadline after SIGTERM (local
    /// ranks).
    pub not_stopping: Vec<usize>,
    /// Workers killed because they were still running `grace` after the first failure (local ranks):
    /// hung, since their own collectives would have failed within the timeout.
    pub not_exiting: Vec<usize>,
}

/// How long workers get to stop after SIGTERM before they are killed, by default: under the 120 s
/// SageMaker leaves before its own kill, so that the agent still reports which worker hung, and over
/// the longest grace a blocked worker takes to stop by itself (`waits::FINAL_BARRIER_STOP_GRACE`).
pub const STOP_DEADLINE: Duration = Duration::from_secs(100);

/// Starts one process per entry of `workers` (`command(worker)` with the worker's variables added) and
/// waits for all of them. A SIGTERM seen on `stop` is passed on to every worker, and those still
/// running `stop_deadline` later are killed. When one worker fails, the others get `grace` to notice
/// through their collectives' timeouts and are then killed, so the agent never hangs.
pub fn run_local_workers(
    command: impl Fn(&WorkerEnv) -> Command,
    workers: &[WorkerEnv],
    stop: &AtomicBool,
    grace: Duration,
    stop_deadline: Duration,
) -> Result<WorkersExit, std::io::Error> {
    let mut children: Vec<Child> = Vec::with_capacity(workers.len());
    for w in workers {
        let mut cmd = command(w);
        cmd.envs(w.vars());
        match cmd.spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                for c in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(e);
            }
        }
    }
    info!(
        "started {} worker processes (ranks {}..={})",
        children.len(),
        workers.first().map_or(0, |w| w.rank),
        workers.last().map_or(0, |w| w.rank)
    );
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut first_failure = None;
    let mut failed_at: Option<Instant> = None;
    let mut forwarded: Option<Instant> = None;
    let mut not_stopping = Vec::new();
    let mut not_exiting = Vec::new();
    while statuses.iter().any(Option::is_none) {
        if stop.load(Ordering::SeqCst) && forwarded.is_none() {
            for (c, s) in children.iter().zip(&statuses) {
                if s.is_none() {
                    send_sigterm(c);
                }
            }
            forwarded = Some(Instant::now());
        }
        if forwarded.is_some_and(|t| t.elapsed() > stop_deadline) && not_stopping.is_empty() {
            for (i, (c, s)) in children.iter_mut().zip(&statuses).enumerate() {
                if s.is_none() {
                    warn!(
                        "worker pid {} (rank {}) has not stopped {stop_deadline:?} after SIGTERM; killing it",
                        c.id(),
                        workers[i].rank
                    );
                    let _ = c.kill();
                    not_stopping.push(i);
                }
            }
        }
        for (i, c) in children.iter_mut().enumerate() {
            if statuses[i].is_some() {
                continue;
            }
            if let Some(status) = c.try_wait()? {
                if !status.success() && first_failure.is_none() && forwarded.is_none() {
                    error!("worker {i} (rank {}) exited with {status}", workers[i].rank);
                    first_failure = Some(i);
                    failed_at = Some(Instant::now());
                }
                statuses[i] = Some(status);
            }
        }
        if let Some(t) = failed_at {
            if t.elapsed() > grace {
                for (i, (c, s)) in children.iter_mut().zip(&statuses).enumerate() {
                    if s.is_none() {
                        warn!("killing worker pid {} after a failed worker", c.id());
                        let _ = c.kill();
                        not_exiting.push(i);
                    }
                }
                failed_at = None;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(WorkersExit {
        statuses: statuses.into_iter().map(|s| s.expect("all set")).collect(),
        first_failure,
        not_stopping,
        not_exiting,
    })
}

fn send_sigterm(child: &Child) {
    // SAFETY: kill(2) on a pid this process started and has not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}
