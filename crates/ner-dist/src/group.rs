//! A c10d process group: libtorch's TCPStore rendezvous and its Gloo or NCCL backend.

use std::ffi::CString;
use std::net::ToSocketAddrs;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};
use tracing::warn;

use crate::error::DistError;
use crate::ffi;
use crate::heartbeat::{self, Heartbeat};
use crate::waits::{
    blocked_on, blocked_on_fallible, COLLECTIVE_STOP_GRACE, FINAL_BARRIER_STOP_GRACE,
    JOIN_STOP_GRACE,
};

/// Which c10d backend carries the collectives: what DDP picks for the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Gloo,
    Nccl,
}

impl Backend {
    /// NCCL for CUDA tensors where its library loads ([`crate::load_nccl`]), else Gloo (CUDA tensors then
    /// travel through host memory: correct, slower).
    pub fn for_device(device: Device) -> Self {
        match device {
            Device::Cuda(_) if crate::load_nccl().is_ok() => Backend::Nccl,
            _ => Backend::Gloo,
        }
    }
}

/// Where and how a process joins its group.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendezvous {
    /// Host serving the TCPStore (rank 0's host).
    pub master_addr: String,
    pub master_port: u16,
    pub rank: usize,
    pub world_size: usize,
    /// How long joining and every collective may wait before failing.
    pub timeout: Duration,
}

/// One process's membership of a group; every collective must be called by every rank in the same
/// order, as with `torch.distributed`.
pub struct ProcessGroup {
    raw: NonNull<c_void>,
    rank: usize,
    world_size: usize,
    backend: Backend,
    master_addr: String,
    /// This rank's heartbeat: a thread with a store client of its own, ended by the group's drop.
    _heartbeat: Heartbeat,
}

// The group is used by one thread at a time; c10d's backends are safe to move between threads.
unsafe impl Send for ProcessGroup {}

impl ProcessGroup {
    /// Joins the group: rank 0 serves the store, the others connect (libtorch retries until the
    /// timeout). Waits first, with retries, for the master's name to resolve: on a multi-host job the
    /// other hosts' DNS entries can appear late. Once joined, the rank's heartbeat runs (see
    /// [`ProcessGroup::stalled_peers`]) until the group is dropped.
    pub fn join(rdv: &Rendezvous, backend: Backend) -> Result<Self, DistError> {
        blocked_on(
            || format!("the master host {} to resolve", rdv.master_addr),
            JOIN_STOP_GRACE,
            || wait_until_resolvable(&rdv.master_addr, rdv.master_port, rdv.timeout),
        )?;
        let master = CString::new(rdv.master_addr.as_str()).map_err(|_| DistError::Env {
            var: "MASTER_ADDR",
            value: rdv.master_addr.clone(),
            message: "contains a NUL byte".into(),
        })?;
        let mut err: *mut c_char = std::ptr::null_mut();
        let waiting_for = || match rdv.rank {
            0 => format!(
                "the other {} ranks to join at {}:{}",
                rdv.world_size - 1,
                rdv.master_addr,
                rdv.master_port
            ),
            _ => format!(
                "the rendezvous with the master at {}:{} and the other ranks",
                rdv.master_addr, rdv.master_port
            ),
        };
        blocked_on_fallible(waiting_for, JOIN_STOP_GRACE, || {
            let raw = unsafe {
                ffi::ner_dist_new(
                    master.as_ptr(),
                    rdv.master_port as c_int,
                    rdv.rank as c_int,
                    rdv.world_size as c_int,
                    rdv.timeout.as_millis() as i64,
                    match backend {
                        Backend::Gloo => 0,
                        Backend::Nccl => 1,
                    },
                    &mut err,
                )
            };
            let Some(raw) = NonNull::new(raw) else {
                return Err(DistError::Connect {
                    master: rdv.master_addr.clone(),
                    port: rdv.master_port,
                    rank: rdv.rank,
                    timeout: rdv.timeout,
                    message: unsafe { ffi::take_message(err) },
                });
            };
            let heartbeat =
                Heartbeat::start(&rdv.master_addr, rdv.master_port, rdv.rank, rdv.timeout);
            let heartbeat =
                heartbeat.inspect_err(|_| unsafe { ffi::ner_dist_free(raw.as_ptr()) })?;
            Ok(Self {
                raw,
                rank: rdv.rank,
                world_size: rdv.world_size,
                backend,
                master_addr: rdv.master_addr.clone(),
                _heartbeat: heartbeat,
            })
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The host serving the group's store (rank 0's).
    pub fn master_addr(&self) -> &str {
        &self.master_addr
    }

    /// The other ranks whose heartbeat did not advance while this rank watched for a few seconds
    /// (`heartbeat::WATCH`): paused, frozen or dead processes. Fails when the store does not answer.
    pub fn stalled_peers(&self) -> Result<Vec<usize>, DistError> {
        let read = || -> Result<Vec<Option<String>>, DistError> {
            (0..self.world_size)
                .map(|r| match r == self.rank {
                    true => Ok(None),
                    false => self.store_get(&heartbeat::key(r)),
                })
                .collect()
        };
        let before = read()?;
        std::thread::sleep(heartbeat::WATCH);
        Ok(heartbeat::unchanged(&before, &read()?))
    }

    /// In-place sum over every rank.
    pub fn all_reduce_sum(&self, tensor: &mut Tensor) -> Result<(), DistError> {
        self.staged(tensor, |t| {
            self.call("all_reduce(sum)", |g, err| unsafe {
                ffi::ner_dist_all_reduce_sum(g, t.as_mut_ptr(), err)
            })
        })
    }

    /// In-place maximum over every rank.
    pub fn all_reduce_max(&self, tensor: &mut Tensor) -> Result<(), DistError> {
        self.staged(tensor, |t| {
            self.call("all_reduce(max)", |g, err| unsafe {
                ffi::ner_dist_all_reduce_max(g, t.as_mut_ptr(), err)
            })
        })
    }

    /// Overwrites every rank's `tensor` with rank `root`'s.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<(), DistError> {
        self.staged(tensor, |t| {
            self.call("broadcast", |g, err| unsafe {
                ffi::ner_dist_broadcast(g, t.as_mut_ptr(), root as c_int, err)
            })
        })
    }

    /// Runs `op` on `tensor`, through a host copy when Gloo carries a CUDA tensor.
    fn staged(
        &self,
        tensor: &mut Tensor,
        op: impl FnOnce(&mut Tensor) -> Result<(), DistError>,
    ) -> Result<(), DistError> {
        if self.backend != Backend::Gloo || !tensor.device().is_cuda() {
            return op(tensor);
        }
        let mut host = tensor.to_device(Device::Cpu);
        op(&mut host)?;
        tch::no_grad(|| tensor.copy_(&host));
        Ok(())
    }

    /// Returns once every rank has called it. A stop request waits longer here than in other
    /// collectives: this is where ranks wait while rank 0 writes the model or the stop's checkpoint.
    pub fn barrier(&self) -> Result<(), DistError> {
        self.call_with_grace("barrier", FINAL_BARRIER_STOP_GRACE, |g, err| unsafe {
            ffi::ner_dist_barrier(g, err)
        })
    }

    /// Sums a set of tensors (of any shapes and kinds) over every rank, a few large messages rather
    /// than one per tensor: tensors of one kind are flattened into buckets of about `bucket_bytes`.
    pub fn all_reduce_sum_all(
        &self,
        tensors: &mut [Tensor],
        bucket_bytes: usize,
    ) -> Result<(), DistError> {
        self.bucketed(tensors, bucket_bytes, |flat| self.all_reduce_sum(flat))
    }

    /// Broadcasts a set of tensors from `root`, bucketed as in [`ProcessGroup::all_reduce_sum_all`].
    pub fn broadcast_all(
        &self,
        tensors: &mut [Tensor],
        root: usize,
        bucket_bytes: usize,
    ) -> Result<(), DistError> {
        self.bucketed(tensors, bucket_bytes, |flat| self.broadcast(flat, root))
    }

    fn bucketed(
        &self,
        tensors: &mut [Tensor],
        bucket_bytes: usize,
        mut op: impl FnMut(&mut Tensor) -> Result<(), DistError>,
    ) -> Result<(), DistError> {
        for bucket in buckets(tensors, bucket_bytes) {
            let parts: Vec<Tensor> = bucket.iter().map(|&i| tensors[i].reshape([-1])).collect();
            let mut flat = Tensor::cat(&parts, 0);
            op(&mut flat)?;
            let sizes: Vec<i64> = parts.iter().map(|p| p.numel() as i64).collect();
            for (&i, piece) in bucket.iter().zip(flat.split_with_sizes(&sizes, 0)) {
                let shape = tensors[i].size();
                tch::no_grad(|| tensors[i].copy_(&piece.reshape(&shape)));
            }
        }
        Ok(())
    }

    /// Leaves `value` under `key` in the rendezvous store, for the other ranks to read.
    pub fn store_set(&self, key: &str, value: &str) -> Result<(), DistError> {
        let (k, v) = (cstring(key), cstring(value));
        self.call("store set", |g, err| unsafe {
            ffi::ner_dist_store_set(g, k.as_ptr(), v.as_ptr(), err)
        })
    }

    /// The value under `key`, if some rank set it.
    pub fn store_get(&self, key: &str) -> Result<Option<String>, DistError> {
        let k = cstring(key);
        let mut found: c_int = 0;
        let mut value: *mut c_char = std::ptr::null_mut();
        self.call("store get", |g, err| unsafe {
            ffi::ner_dist_store_get(g, k.as_ptr(), &mut found, &mut value, err)
        })?;
        Ok((found != 0).then(|| unsafe { ffi::take_message(value) }))
    }

    fn call(
        &self,
        op: &'static str,
        f: impl FnOnce(*mut c_void, *mut *mut c_char) -> c_int,
    ) -> Result<(), DistError> {
        self.call_with_grace(op, COLLECTIVE_STOP_GRACE, f)
    }

    /// Runs the group operation `f`, marked as a wait on the other ranks (see [`crate::waits`]).
    fn call_with_grace(
        &self,
        op: &'static str,
        stop_grace: Duration,
        f: impl FnOnce(*mut c_void, *mut *mut c_char) -> c_int,
    ) -> Result<(), DistError> {
        let mut err: *mut c_char = std::ptr::null_mut();
        let waiting_for = || {
            format!(
                "the other ranks in {op} (rank {} of {})",
                self.rank, self.world_size
            )
        };
        blocked_on_fallible(waiting_for, stop_grace, || {
            if f(self.raw.as_ptr(), &mut err) == 0 {
                return Ok(());
            }
            Err(DistError::Collective {
                op,
                rank: self.rank,
                world_size: self.world_size,
                message: unsafe { ffi::take_message(err) },
            })
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        unsafe { ffi::ner_dist_free(self.raw.as_ptr()) }
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NUL bytes replaced")
}

/// Index groups of `tensors`: same kind and device within a group, in order, each up to about
/// `bucket_bytes` (a larger tensor gets a bucket of its own).
fn buckets(tensors: &[Tensor], bucket_bytes: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    let mut key: Option<(Kind, Device)> = None;
    for (i, t) in tensors.iter().enumerate() {
        let k = (t.kind(), t.device());
        let size = t.numel() * t.kind().elt_size_in_bytes();
        if !current.is_empty() && (key != Some(k) || bytes + size > bucket_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        key = Some(k);
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Resolves `host` (retrying every second) until it does or `timeout` passes.
fn wait_until_resolvable(host: &str, port: u16, timeout: Duration) -> Result<(), DistError> {
    let started = Instant::now();
    let mut warned = false;
    loop {
        match (host, port).to_socket_addrs().map(Iterator::count) {
            Ok(n) if n > 0 => return Ok(()),
            result => {
                let message = match result {
                    Err(e) => e.to_string(),
                    Ok(_) => "no address".into(),
                };
                if started.elapsed() >= timeout {
                    return Err(DistError::Resolve {
                        host: host.into(),
                        waited: started.elapsed(),
                        message,
                    });
                }
                if !warned {
                    warn!("master host {host} does not resolve yet ({message}); retrying");
                    warned = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_by_kind_and_size() {
        let t = |n: i64, kind| Tensor::zeros([n], (kind, Device::Cpu));
        let tensors = [
            t(10, Kind::Float),
            t(10, Kind::Float),
            t(30, Kind::Float),
            t(4, Kind::Int64),
            t(1, Kind::Float),
        ];
        // 80 bytes per bucket: 40 + 40, then 120 alone, then the i64 one, then the next float.
        assert_eq!(
            buckets(&tensors, 80),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
    }
}
