//! A stop request (SIGTERM) honoured while this process is blocked on other processes.
//!
//! The training loops check their stop flag between steps, but a process waiting for the master's name
//! to resolve, for the rendezvous, for peers to join or inside a collective cannot look at it: libtorch
//! blocks until `distributed_timeout_seconds`, and SageMaker kills 120 s after SIGTERM. Every such wait
//! is marked ([`blocked_on`]); a watcher thread ([`watch_stop`]) that sees the stop flag raised while a
//! wait has lasted past its grace hands the wait's description to the caller, which ends the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::DistError;

/// Grace for a wait that only other processes can end and that saves nothing (resolving the master,
/// the rendezvous, peers joining): none.
pub(crate) const JOIN_STOP_GRACE: Duration = Duration::ZERO;

/// Grace for a collective after a stop request: the peers normally answer within a step and the
/// loop then stops at the step boundary, writing its checkpoint; past this, a peer is hung or gone.
pub(crate) const COLLECTIVE_STOP_GRACE: Duration = Duration::from_secs(15);

/// Grace for the closing barrier, where the other ranks wait while rank 0 writes the model or the stop's
/// checkpoint: under SageMaker's 120 s between SIGTERM and the kill.
pub(crate) const FINAL_BARRIER_STOP_GRACE: Duration = Duration::from_secs(90);

/// How often the watcher looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

struct Wait {
    what: String,
    since: Instant,
    grace: Duration,
}

/// The wait this process is blocked in, if any (one thread of a process talks to the group).
static CURRENT: Mutex<Option<Wait>> = Mutex::new(None);

/// The stop flag [`watch_stop`] watches.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Clears the current wait when the blocking call returns (or unwinds).
struct Marked;

impl Drop for Marked {
    fn drop(&mut self) {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Runs `f`, a call that blocks until other processes answer, marked as waiting for `what` (a phrase
/// completing "stopped by SIGTERM while waiting for …") with a stop `grace`.
pub(crate) fn blocked_on<T>(
    what: impl FnOnce() -> String,
    grace: Duration,
    f: impl FnOnce() -> T,
) -> T {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Wait {
        what: what(),
        since: Instant::now(),
        grace,
    });
    let _marked = Marked;
    f()
}

/// [`blocked_on`] for a call that can fail: a failure once a stop was requested is the stop (libtorch's
/// waits give up when the signal interrupts them, reporting a timeout).
pub(crate) fn blocked_on_fallible<T>(
    what: impl FnOnce() -> String,
    grace: Duration,
    f: impl FnOnce() -> Result<T, DistError>,
) -> Result<T, DistError> {
    let what = what();
    match blocked_on(|| what.clone(), grace, f) {
        Err(_) if stop_requested() => Err(DistError::StoppedWaiting { what }),
        result => result,
    }
}

fn stop_requested() -> bool {
    STOP.get().is_some_and(|s| s.load(Ordering::SeqCst))
}

/// Starts the thread that ends a process stopped while blocked: once `stop` is raised and the current
/// wait has lasted past its grace (counted from the later of the wait's start and the stop),
/// `on_stopped` gets the wait's description. `on_stopped` is expected not to return (it writes the
/// failure and exits); if it does, the watcher ends.
pub fn watch_stop(stop: Arc<AtomicBool>, on_stopped: impl FnOnce(&str) + Send + 'static) {
    let _ = STOP.set(Arc::clone(&stop));
    std::thread::Builder::new()
        .name("stop-watch".into())
        .spawn(move || {
            let stopped_at = loop {
                if stop.load(Ordering::SeqCst) {
                    break Instant::now();
                }
                std::thread::sleep(POLL);
            };
            loop {
                if let Some(what) = overdue(stopped_at) {
                    on_stopped(&what);
                    return;
                }
                std::thread::sleep(POLL);
            }
        })
        .expect("spawning the stop watcher");
}

/// The current wait's description when it has outlasted its grace since `stopped_at`.
fn overdue(stopped_at: Instant) -> Option<String> {
    let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let wait = current.as_ref()?;
    let from = wait.since.max(stopped_at);
    (from.elapsed() >= wait.grace).then(|| wait.what.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Runs `blocked_on(what, grace)` on a thread until `release` is sent.
    fn waiting(
        what: &'static str,
        grace: Duration,
    ) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (release, hold) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            blocked_on(
                || what.into(),
                grace,
                || hold.recv_timeout(Duration::from_secs(20)),
            )
            .unwrap();
        });
        (release, handle)
    }

    // One test: the current wait is process-wide, and tests run on threads of one process.
    #[test]
    fn a_stop_ends_only_a_wait_past_its_grace_counted_from_the_later_of_wait_and_stop() {
        // A wait under way when the stop comes: without a stop nothing happens, however long it
        // lasts; after the stop, its grace runs from the stop.
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        watch_stop(Arc::clone(&stop), move |what| {
            tx.send(what.to_string()).unwrap()
        });
        let grace = Duration::from_millis(500);
        let (release, handle) = waiting("a collective already under way", grace);
        std::thread::sleep(grace + POLL * 2);
        assert!(rx.try_recv().is_err(), "no stop, no report");
        let stopped = Instant::now();
        stop.store(true, Ordering::SeqCst);
        let what = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let after = stopped.elapsed();
        assert_eq!(what, "a collective already under way");
        assert!(
            after >= grace && after < grace * 4,
            "{after:?} after the stop"
        );
        release.send(()).unwrap();
        handle.join().unwrap();
        assert!(CURRENT.lock().unwrap().is_none(), "the wait is cleared");

        // Stopped before any wait: a wait that ends within its grace is not cut; one past it is,
        // its grace counted from its start.
        let stop = Arc::new(AtomicBool::new(true));
        let (tx, rx) = mpsc::channel();
        watch_stop(stop, move |what| tx.send(what.to_string()).unwrap());
        std::thread::sleep(POLL * 3);
        blocked_on(
            || "a quick collective".into(),
            Duration::from_secs(2),
            || std::thread::sleep(POLL * 5),
        );
        assert!(rx.try_recv().is_err(), "no wait was overdue");
        let started = Instant::now();
        let (release, handle) = waiting(
            "the master host algo-1 to resolve",
            Duration::from_millis(300),
        );
        let what = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(what, "the master host algo-1 to resolve");
        let after = started.elapsed();
        assert!(
            after >= Duration::from_millis(300) && after < Duration::from_secs(2),
            "{after:?}"
        );
        release.send(()).unwrap();
        handle.join().unwrap();
    }
}
