//! A worker's side of the launch: its device, joining the group, and leaving its failure where the
//! other ranks (and the agent) find it.

use tracing::{info, warn};

use super::host::{current_host, WORKER_HOST_ENV};
use super::policy::LaunchSettings;
use super::worker_env::WorkerEnv;
use crate::error::DistError;
use crate::group::{Backend, ProcessGroup, Rendezvous};

/// The device of local rank `local_rank`: its own GPU, or the CPU.
pub fn worker_device(device: tch::Device, local_rank: usize) -> Result<tch::Device, DistError> {
    match device {
        tch::Device::Cuda(_) => {
            let count = tch::Cuda::device_count() as usize;
            if local_rank >= count {
                return Err(DistError::NoDevice { local_rank, count });
            }
            Ok(tch::Device::Cuda(local_rank))
        }
        other => Ok(other),
    }
}

/// Joins the group as the rank `env` names, over Gloo or NCCL as the device needs.
pub fn join(
    env: &WorkerEnv,
    device: tch::Device,
    settings: &LaunchSettings,
) -> Result<ProcessGroup, DistError> {
    let rdv = Rendezvous {
        master_addr: env.master_addr.clone(),
        master_port: env.master_port,
        rank: env.rank,
        world_size: env.world_size,
        timeout: settings.timeout,
    };
    let backend = Backend::for_device(device);
    if let (true, Err(why)) = (device.is_cuda(), crate::nccl::load_nccl()) {
        warn!(
            "NCCL is not available ({why}): gradients travel between GPUs through host memory over \
             Gloo (correct, slower)"
        );
    }
    info!(
        "rank {} of {}: joining the process group at {}:{} ({backend:?})",
        env.rank, env.world_size, env.master_addr, env.master_port
    );
    ProcessGroup::join(&rdv, backend)
}

/// Leaves this rank's failure (`error`, with its sources) in the rendezvous store. When this rank
/// only saw a collective break (a [`DistError`] in the chain: a peer died or gave up), returns what
/// to add to the error: the rank that failed first and its report, or that contact was lost.
pub fn report_failure(
    group: &ProcessGroup,
    error: &(dyn std::error::Error + 'static),
) -> Option<String> {
    let rank = group.rank();
    let host = worker_host();
    let chain = || std::iter::successors(Some(error), |e| e.source());
    let text: Vec<String> = chain().map(ToString::to_string).collect();
    let _ = group.store_set(
        &format!("failed/{rank}"),
        &format!("{host}: {}", text.join(": ")),
    );
    let lost_peer = chain().any(|e| e.downcast_ref::<DistError>().is_some());
    if !lost_peer {
        return None;
    }
    let first = (0..group.world_size())
        .filter(|&r| r != rank)
        .find_map(|r| Some((r, group.store_get(&format!("failed/{r}")).ok()??)));
    Some(match first {
        Some((r, report)) => format!("rank {r} on {report}"),
        None => format!(
            "rank {rank} on {host} lost contact with the other ranks (one died, was killed or \
             stopped answering within distributed_timeout_seconds)"
        ),
    })
}

/// The host name a worker reports in failures.
pub fn worker_host() -> String {
    std::env::var(WORKER_HOST_ENV).unwrap_or_else(|_| current_host())
}
