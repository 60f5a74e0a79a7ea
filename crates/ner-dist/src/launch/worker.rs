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

/// Joins the group as the rank `env` names, over Gloo or NCCL as the device needs, and leaves this
/// rank's host name in the store for the other ranks' failure reports.
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
    let group = ProcessGroup::join(&rdv, backend)?;
    group.store_set(&host_key(env.rank), &worker_host())?;
    Ok(group)
}

/// Deals with this rank's failure (`error`, with its sources). A failure of its own is left in the
/// rendezvous store, where the other ranks find it, and `None` is returned. When this rank only saw a
/// collective break (a [`DistError`] in the chain: a peer died, hung or gave up), returns the error
/// to fail with instead, leading with its cause: the first rank that reported a failure, else the
/// ranks whose heartbeat stopped (any host: `ProcessGroup::stalled_peers`), else rank 0 when its
/// store no longer answers, else that contact was lost. A stop request is not a failure: `None`.
pub fn report_failure(
    group: &ProcessGroup,
    error: &(dyn std::error::Error + 'static),
) -> Option<DistError> {
    let rank = group.rank();
    let host = worker_host();
    let chain = || std::iter::successors(Some(error), |e| e.source());
    let text = chain_text(chain());
    let dist = || chain().filter_map(|e| e.downcast_ref::<DistError>());
    let lost_peer = dist().next().is_some() && !dist().any(DistError::is_stop);
    let cause = lost_peer.then(|| peer_cause(group)).flatten();
    if cause.is_none() {
        // Perhaps this rank's own fault, or the first of several: the others may name it.
        let _ = group.store_set(&format!("failed/{rank}"), &format!("{host}: {text}"));
    }
    lost_peer.then(|| DistError::LostPeer {
        rank,
        host,
        cause: cause.unwrap_or_else(|| {
            format!(
                "rank {rank} lost contact with the other ranks (none reported a failure and \
                 every heartbeat still advanced)"
            )
        }),
        seen: text,
    })
}

/// An error's messages, outermost first, joined by ": "; a message its outer one already ends with
/// (a wrapper that displays its source) is said once.
fn chain_text<'a>(chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>) -> String {
    let mut said: Vec<String> = Vec::new();
    for message in chain.map(ToString::to_string) {
        if !said.last().is_some_and(|outer| outer.ends_with(&message)) {
            said.push(message);
        }
    }
    said.join(": ")
}

/// What another rank did to this one's collective, if the store says: a failure it reported, or
/// that it stopped answering.
fn peer_cause(group: &ProcessGroup) -> Option<String> {
    let found = reported_or_stalled(group);
    match found {
        Ok(cause) => cause,
        // The store lives in rank 0: when it does not answer, rank 0 is the one that stopped.
        Err(e) if group.rank() != 0 => {
            warn!("the rendezvous store does not answer: {e}");
            Some(format!(
                "rank 0 on host {} stopped answering (hung, paused or killed: the rendezvous store \
                 it serves did not answer)",
                group.master_addr()
            ))
        }
        Err(_) => None,
    }
}

fn reported_or_stalled(group: &ProcessGroup) -> Result<Option<String>, DistError> {
    let others = (0..group.world_size()).filter(|&r| r != group.rank());
    for r in others {
        if let Some(report) = group.store_get(&format!("failed/{r}"))? {
            return Ok(Some(format!("rank {r} on {report}")));
        }
    }
    let stalled = group.stalled_peers()?;
    if stalled.is_empty() {
        return Ok(None);
    }
    let named: Vec<String> = stalled
        .iter()
        .map(|&r| {
            let host = group.store_get(&host_key(r)).ok().flatten();
            format!(
                "rank {r} on host {}",
                host.as_deref().unwrap_or("(unknown)")
            )
        })
        .collect();
    let verb = if named.len() == 1 {
        "its heartbeat"
    } else {
        "their heartbeats"
    };
    Ok(Some(format!(
        "{} stopped answering (hung, paused or killed: {verb} stopped)",
        named.join(" and ")
    )))
}

/// The store key under which a rank leaves its host name.
fn host_key(rank: usize) -> String {
    format!("host/{rank}")
}

/// The host name a worker reports in failures.
pub fn worker_host() -> String {
    std::env::var(WORKER_HOST_ENV).unwrap_or_else(|_| current_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Shows(#[source] DistError);

    #[derive(Debug, thiserror::Error)]
    #[error("training step 5")]
    struct During(#[source] Shows);

    #[test]
    fn a_chain_says_each_message_once() {
        let inner = DistError::Heartbeat("gone".into());
        let err = During(Shows(inner));
        assert_eq!(
            chain_text(std::iter::successors(
                Some(&err as &(dyn std::error::Error + 'static)),
                |e| e.source()
            )),
            "training step 5: the heartbeat through the rendezvous store: gone"
        );
    }
}
