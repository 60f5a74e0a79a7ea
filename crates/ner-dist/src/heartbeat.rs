//! Each rank's liveness, visible to every other rank on any host: a thread that advances a counter in
//! the rendezvous store every [`PERIOD`]. A rank whose collective broke reads the others' counters
//! twice, [`WATCH`] apart ([`crate::ProcessGroup::stalled_peers`]); a counter that did not advance
//! names a rank that stopped answering. Comparing a counter with itself needs no clock shared
//! between hosts.
//!
//! What this catches is a process that stopped as a whole: paused (SIGSTOP), frozen or killed, its
//! heartbeat thread with it. A rank deadlocked in its own code while its heartbeat thread runs on
//! looks alive here; its peers then report only that they lost contact.
//!
//! The thread talks to the store through a client of its own ([`StoreClient`]), not the group's:
//! c10d's `TCPStore` serialises the operations of one client (`activeOpLock_` in `TCPStore.hpp`), so
//! a shared client would be safe but would queue each beat behind whatever the training thread
//! waits for on it, and the group itself is used by one thread at a time (`ProcessGroup` is `Send`,
//! not `Sync`). Its beats are not marked as waits (`crate::waits`): the mark is the training
//! thread's, one per process, and a beat never holds up a stop.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use crate::error::DistError;
use crate::ffi;

/// How often a rank's counter advances: one store write a second per rank.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// How long a failing rank watches the others' counters: three periods, so that a live rank's
/// counter advances even when its thread wakes late on a loaded machine.
pub(crate) const WATCH: Duration = Duration::from_secs(3);

/// The store key of `rank`'s counter (beside `failed/{rank}` and `host/{rank}`, and apart from
/// c10d's own keys, which Gloo keeps under numeric prefixes).
pub(crate) fn key(rank: usize) -> String {
    format!("heartbeat/{rank}")
}

/// The ranks whose counter was the same in `before` and `after` (each indexed by rank; `None` where
/// a rank was not read or had no counter, which names nobody).
pub(crate) fn unchanged(before: &[Option<String>], after: &[Option<String>]) -> Vec<usize> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| b.is_some() && b == a)
        .map(|(rank, _)| rank)
        .collect()
}

/// This rank's heartbeat thread; dropping it ends the thread (within a [`PERIOD`]).
pub(crate) struct Heartbeat {
    stop: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Connects a store client of its own to the master's store, writes the first beat and starts
    /// the thread that writes the next ones. A beat that fails (the store is gone, as when rank 0
    /// has finished) ends the thread.
    pub(crate) fn start(
        master: &str,
        port: u16,
        rank: usize,
        timeout: Duration,
    ) -> Result<Self, DistError> {
        let client = StoreClient::connect(master, port, timeout)?;
        let key = key(rank);
        client.set(&key, "0")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name(format!("heartbeat-{rank}"))
            .spawn(move || {
                for count in 1u64.. {
                    std::thread::sleep(PERIOD);
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Err(e) = client.set(&key, &count.to_string()) {
                        debug!("heartbeat of rank {rank} ends: {e}");
                        return;
                    }
                }
            })
            .map_err(|e| DistError::Heartbeat(format!("starting its thread: {e}")))?;
        Ok(Self { stop })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A connection to the master's store used by one thread alone.
struct StoreClient(NonNull<c_void>);

// The client is moved into the heartbeat thread and used there only.
unsafe impl Send for StoreClient {}

impl StoreClient {
    fn connect(master: &str, port: u16, timeout: Duration) -> Result<Self, DistError> {
        let master_c = CString::new(master).map_err(|_| DistError::Env {
            var: "MASTER_ADDR",
            value: master.into(),
            message: "contains a NUL byte".into(),
        })?;
        let mut err: *mut c_char = std::ptr::null_mut();
        let raw = unsafe {
            ffi::ner_dist_store_client_new(
                master_c.as_ptr(),
                c_int::from(port),
                timeout.as_millis() as i64,
                &mut err,
            )
        };
        NonNull::new(raw).map(Self).ok_or_else(|| {
            DistError::Heartbeat(format!(
                "connecting to the store at {master}:{port}: {}",
                unsafe { ffi::take_message(err) }
            ))
        })
    }

    fn set(&self, key: &str, value: &str) -> Result<(), DistError> {
        let (k, v) = (CString::new(key), CString::new(value));
        let (Ok(k), Ok(v)) = (k, v) else {
            return Err(DistError::Heartbeat(format!("a NUL byte in {key:?}")));
        };
        let mut err: *mut c_char = std::ptr::null_mut();
        let rc = unsafe {
            ffi::ner_dist_store_client_set(self.0.as_ptr(), k.as_ptr(), v.as_ptr(), &mut err)
        };
        if rc == 0 {
            return Ok(());
        }
        Err(DistError::Heartbeat(format!("writing {key}: {}", unsafe {
            ffi::take_message(err)
        })))
    }
}

impl Drop for StoreClient {
    fn drop(&mut self) {
        unsafe { ffi::ner_dist_store_client_free(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_is_named_only_when_its_counter_was_read_twice_unchanged() {
        let s = |v: &str| Some(v.to_string());
        let before = [None, s("4"), s("7"), None, s("2")];
        let after = [None, s("4"), s("9"), s("0"), s("2")];
        assert_eq!(unchanged(&before, &after), vec![1, 4]);
    }
}
