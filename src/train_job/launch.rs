//! Where this process stands in a data-parallel job. `train` started by SageMaker (or by hand) is its
//! host's agent: it starts one worker per device (`processes_per_host`), as `torchrun` does, and turns
//! their exits into the job's. A worker is `train` started with torchrun's variables, by our agent or
//! by a user's own launcher.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ner_dist::{Backend, ProcessGroup, Rendezvous, WorkerEnv};
use sagemaker_contract::{Distributed, HostRole, Hyperparameters, ResourceConfig};
use tracing::{info, warn};

use super::run::Finished;

/// Set in a worker that our agent started: where the worker writes its failure reason, which the
/// agent turns into the job's failure file.
pub const WORKER_FAILURE_FILE_ENV: &str = "ALBERT_NER_WORKER_FAILURE_FILE";

/// Set in a worker that our agent started: the host name its failures report.
const WORKER_HOST_ENV: &str = "ALBERT_NER_HOST";

/// For tests only: `name=address,...` used instead of DNS for the master host (two "hosts" on one
/// machine). SageMaker's host names resolve by themselves.
pub const HOST_ADDRESSES_ENV: &str = "ALBERT_NER_HOST_ADDRESSES";

/// What this process does.
#[derive(Debug, PartialEq, Eq)]
pub enum Launch {
    /// Trains alone: `distributed=off`, or one device on one host.
    Single,
    /// Starts this host's workers and waits for them.
    Agent {
        workers: Vec<WorkerEnv>,
        host: String,
    },
    /// Trains as one rank of the group.
    Worker(WorkerEnv),
}

/// Decides from torchrun's variables (a worker), else from the hosts and `processes_per_host`.
/// `gpus`: the devices visible on this host (0 on a CPU host).
pub fn decide(hp: &Hyperparameters, role: &HostRole, gpus: usize) -> Result<Launch> {
    let from_launcher = WorkerEnv::from_env().context("torchrun's launch variables")?;
    if hp.distributed == Distributed::Off {
        if from_launcher.is_some() {
            warn!("distributed=off: ignoring the launcher's RANK/WORLD_SIZE; this process trains alone");
        }
        return Ok(Launch::Single);
    }
    if let Some(env) = from_launcher {
        return Ok(Launch::Worker(env));
    }
    let (index, hosts) = match role {
        HostRole::Member { index, hosts } => (*index, hosts.clone()),
        _ => (0, vec![current_host()]),
    };
    let per_host = hp.processes_per_host.unwrap_or(gpus.max(1));
    let world_size = per_host * hosts.len();
    if world_size == 1 {
        return Ok(Launch::Single);
    }
    let master_addr = address_of(&hosts[0]);
    let workers = (0..per_host)
        .map(|local_rank| WorkerEnv {
            rank: index * per_host + local_rank,
            world_size,
            local_rank,
            local_world_size: per_host,
            master_addr: master_addr.clone(),
            master_port: hp.master_port,
        })
        .collect();
    Ok(Launch::Agent {
        workers,
        host: hosts[index].clone(),
    })
}

/// This machine's name for messages outside SageMaker.
fn current_host() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}

/// `host`, or the address [`HOST_ADDRESSES_ENV`] gives it.
fn address_of(host: &str) -> String {
    let overrides = std::env::var(HOST_ADDRESSES_ENV).unwrap_or_default();
    overrides
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim() == host)
        .map_or_else(|| host.to_string(), |(_, addr)| addr.trim().to_string())
}

/// Starts the workers, passes SIGTERM on, and turns their exits into the job's: every worker done
/// is success, every worker stopped is a stop, and otherwise the first worker to fail is the cause.
pub fn run_agent(
    hp: &Hyperparameters,
    resource: Option<&ResourceConfig>,
    workers: &[WorkerEnv],
    host: &str,
    stop: &AtomicBool,
) -> Result<Finished> {
    let exe = std::env::current_exe().context("locating the train binary to start workers")?;
    let reports = std::env::temp_dir().join(format!("albert-ner-agent-{}", std::process::id()));
    std::fs::create_dir_all(&reports).with_context(|| format!("creating {}", reports.display()))?;
    let report_of = |rank: usize| reports.join(format!("rank-{rank}.failure"));
    let interface = resource.and_then(|r| r.network_interface_name.clone());
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
        let mut c = Command::new(&exe);
        c.arg("train")
            .env(WORKER_FAILURE_FILE_ENV, report_of(w.rank))
            .env(WORKER_HOST_ENV, host);
        // As SageMaker's toolkits do: collectives go over the job's network interface.
        if let Some(ifname) = &interface {
            for var in ["GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"] {
                if std::env::var_os(var).is_none() {
                    c.env(var, ifname);
                }
            }
        }
        c
    };
    // The survivors' own collectives fail within the timeout; this is the agent's backstop.
    let grace = Duration::from_secs_f64(hp.distributed_timeout_seconds + 30.0);
    let exit = ner_dist::run_local_workers(command, workers, stop, grace)
        .context("starting the worker processes")?;
    let outcome = outcome(workers, &exit, host, &report_of);
    let _ = std::fs::remove_dir_all(&reports);
    outcome
}

fn outcome(
    workers: &[WorkerEnv],
    exit: &ner_dist::WorkersExit,
    host: &str,
    report_of: &dyn Fn(usize) -> PathBuf,
) -> Result<Finished> {
    let stopped = |s: &ExitStatus| s.code() == Some(i32::from(super::EXIT_STOPPED));
    if exit.statuses.iter().all(ExitStatus::success) {
        info!("all {} workers finished", workers.len());
        return Ok(Finished::Completed);
    }
    if exit.statuses.iter().all(|s| s.success() || stopped(s)) {
        return Ok(Finished::Stopped);
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
    let w = &workers[first];
    let status = exit.statuses[first];
    let reason = std::fs::read_to_string(report_of(w.rank))
        .ok()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| describe(status));
    bail!(
        "rank {} (local rank {}) on host {host} failed: {}",
        w.rank,
        w.local_rank,
        reason.trim()
    )
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

/// Joins the group as the rank `env` names, over Gloo or NCCL as the device needs.
pub fn join(env: &WorkerEnv, device: tch::Device, hp: &Hyperparameters) -> Result<ProcessGroup> {
    let rdv = Rendezvous {
        master_addr: env.master_addr.clone(),
        master_port: env.master_port,
        rank: env.rank,
        world_size: env.world_size,
        timeout: Duration::from_secs_f64(hp.distributed_timeout_seconds),
    };
    let backend = Backend::for_device(device);
    if let (true, Err(why)) = (device.is_cuda(), ner_dist::load_nccl()) {
        warn!(
            "NCCL is not available ({why}): gradients travel between GPUs through host memory over \
             Gloo (correct, slower)"
        );
    }
    info!(
        "rank {} of {}: joining the process group at {}:{} ({backend:?})",
        env.rank, env.world_size, env.master_addr, env.master_port
    );
    Ok(ProcessGroup::join(&rdv, backend)?)
}

/// Leaves this rank's failure in the rendezvous store, and names the rank that failed first when this
/// one only saw a collective break (a peer died or gave up).
pub fn report_failure(group: &ProcessGroup, err: anyhow::Error) -> anyhow::Error {
    let rank = group.rank();
    let host = worker_host();
    let _ = group.store_set(&format!("failed/{rank}"), &format!("{host}: {err:#}"));
    let lost_peer = err
        .chain()
        .any(|c| c.downcast_ref::<ner_dist::DistError>().is_some());
    if !lost_peer {
        return err;
    }
    let first = (0..group.world_size())
        .filter(|&r| r != rank)
        .find_map(|r| Some((r, group.store_get(&format!("failed/{r}")).ok()??)));
    match first {
        Some((r, report)) => err.context(format!("rank {r} on {report}")),
        None => err.context(format!(
            "rank {rank} on {host} lost contact with the other ranks (one died, was killed or \
             stopped answering within distributed_timeout_seconds)"
        )),
    }
}

/// The host name a worker reports in failures.
pub fn worker_host() -> String {
    std::env::var(WORKER_HOST_ENV).unwrap_or_else(|_| current_host())
}

/// The device of local rank `local_rank`: its own GPU, or the CPU.
pub fn worker_device(device: tch::Device, local_rank: usize) -> Result<tch::Device> {
    match device {
        tch::Device::Cuda(_) => {
            let count = tch::Cuda::device_count() as usize;
            if local_rank >= count {
                bail!("local rank {local_rank} has no GPU: {count} visible; set processes_per_host ≤ {count}");
            }
            Ok(tch::Device::Cuda(local_rank))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(per_host: Option<usize>) -> Hyperparameters {
        Hyperparameters {
            processes_per_host: per_host,
            ..Hyperparameters::default()
        }
    }

    fn member(index: usize, n: usize) -> HostRole {
        HostRole::Member {
            index,
            hosts: (1..=n).map(|i| format!("algo-{i}")).collect(),
        }
    }

    #[test]
    fn one_device_on_one_host_trains_alone() {
        assert_eq!(
            decide(&hp(None), &HostRole::Single, 0).unwrap(),
            Launch::Single
        );
        assert_eq!(
            decide(&hp(None), &HostRole::Single, 1).unwrap(),
            Launch::Single
        );
    }

    #[test]
    fn ranks_are_host_index_times_processes_per_host_plus_local_rank() {
        let Launch::Agent { workers, host } = decide(&hp(None), &member(1, 2), 4).unwrap() else {
            panic!("an agent")
        };
        assert_eq!(host, "algo-2");
        let ranks: Vec<usize> = workers.iter().map(|w| w.rank).collect();
        assert_eq!(ranks, [4, 5, 6, 7]);
        assert!(workers
            .iter()
            .all(|w| w.world_size == 8 && w.master_addr == "algo-1"));
        assert_eq!(workers[2].local_rank, 2);
        assert!(workers.iter().all(|w| w.master_port == 7777));
        // One process per host on CPU hosts: still an agent with one worker.
        let Launch::Agent { workers, .. } = decide(&hp(None), &member(0, 2), 0).unwrap() else {
            panic!("an agent")
        };
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].world_size, 2);
        // processes_per_host wins over the GPU count.
        let Launch::Agent { workers, .. } = decide(&hp(Some(2)), &HostRole::Single, 0).unwrap()
        else {
            panic!("an agent")
        };
        assert_eq!(workers.len(), 2);
    }

    #[test]
    fn distributed_off_trains_alone() {
        let mut h = hp(Some(4));
        h.distributed = Distributed::Off;
        assert_eq!(decide(&h, &HostRole::Single, 8).unwrap(), Launch::Single);
    }
}
