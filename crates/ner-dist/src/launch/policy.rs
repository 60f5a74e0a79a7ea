//! Who this process is in the job: torchrun's variables make it a worker; otherwise the hosts and
//! the workers per host decide between training alone and being its host's agent.

use std::time::Duration;

use super::host::current_host;
use super::worker_env::WorkerEnv;
use crate::error::DistError;

/// For tests only: `name=address,...` used instead of DNS for the master host (two "hosts" on one
/// machine). SageMaker's host names resolve by themselves.
pub const HOST_ADDRESSES_ENV: &str = "ALBERT_NER_HOST_ADDRESSES";

/// The job's launch settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSettings {
    /// Train together across devices and hosts; `false`: this process trains alone.
    pub distributed: bool,
    /// Workers per host; `None`: one per GPU, 1 on a CPU host.
    pub processes_per_host: Option<usize>,
    /// Port of the rendezvous on the first host.
    pub master_port: u16,
    /// How long any rank waits for the others (joining, each collective) before failing.
    pub timeout: Duration,
}

/// The job's hosts and this one's place among them; the first is the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    pub index: usize,
    pub names: Vec<String>,
}

/// What this process does.
#[derive(Debug, PartialEq, Eq)]
pub enum Launch {
    /// Trains alone: not distributed, or one device on one host.
    Single,
    /// Starts this host's workers and waits for them.
    Agent {
        workers: Vec<WorkerEnv>,
        host: String,
    },
    /// Trains as one rank of the group.
    Worker(WorkerEnv),
}

/// Decides from torchrun's variables (a worker), else from the hosts (`None`: this machine alone) and
/// the workers per host. `gpus`: the devices visible on this host (0 on a CPU host).
pub fn decide(
    settings: &LaunchSettings,
    hosts: Option<&Hosts>,
    gpus: usize,
) -> Result<Launch, DistError> {
    decide_from(WorkerEnv::from_env()?, settings, hosts, gpus)
}

fn decide_from(
    from_launcher: Option<WorkerEnv>,
    settings: &LaunchSettings,
    hosts: Option<&Hosts>,
    gpus: usize,
) -> Result<Launch, DistError> {
    if !settings.distributed {
        if from_launcher.is_some() {
            tracing::warn!(
                "distributed=off: ignoring the launcher's RANK/WORLD_SIZE; this process trains alone"
            );
        }
        return Ok(Launch::Single);
    }
    if let Some(env) = from_launcher {
        return Ok(Launch::Worker(env));
    }
    let (index, names) = match hosts {
        Some(h) => (h.index, h.names.clone()),
        None => (0, vec![current_host()]),
    };
    let per_host = settings.processes_per_host.unwrap_or(gpus.max(1));
    let world_size = per_host * names.len();
    if world_size == 1 {
        return Ok(Launch::Single);
    }
    let master_addr = address_of(&names[0]);
    let workers = (0..per_host)
        .map(|local_rank| WorkerEnv {
            rank: index * per_host + local_rank,
            world_size,
            local_rank,
            local_world_size: per_host,
            master_addr: master_addr.clone(),
            master_port: settings.master_port,
        })
        .collect();
    Ok(Launch::Agent {
        workers,
        host: names[index].clone(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_host: Option<usize>) -> LaunchSettings {
        LaunchSettings {
            distributed: true,
            processes_per_host: per_host,
            master_port: 7777,
            timeout: Duration::from_secs(600),
        }
    }

    fn hosts(index: usize, n: usize) -> Hosts {
        Hosts {
            index,
            names: (1..=n).map(|i| format!("algo-{i}")).collect(),
        }
    }

    fn decide(s: &LaunchSettings, h: Option<&Hosts>, gpus: usize) -> Launch {
        decide_from(None, s, h, gpus).unwrap()
    }

    #[test]
    fn one_device_on_one_host_trains_alone() {
        assert_eq!(decide(&settings(None), None, 0), Launch::Single);
        assert_eq!(decide(&settings(None), None, 1), Launch::Single);
    }

    #[test]
    fn ranks_are_host_index_times_processes_per_host_plus_local_rank() {
        let Launch::Agent { workers, host } = decide(&settings(None), Some(&hosts(1, 2)), 4) else {
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
        let Launch::Agent { workers, .. } = decide(&settings(None), Some(&hosts(0, 2)), 0) else {
            panic!("an agent")
        };
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].world_size, 2);
        // processes_per_host wins over the GPU count.
        let Launch::Agent { workers, .. } = decide(&settings(Some(2)), None, 0) else {
            panic!("an agent")
        };
        assert_eq!(workers.len(), 2);
    }

    #[test]
    fn distributed_off_trains_alone() {
        let mut s = settings(Some(4));
        s.distributed = false;
        assert_eq!(decide(&s, None, 8), Launch::Single);
        let launcher = WorkerEnv {
            rank: 1,
            world_size: 2,
            local_rank: 1,
            local_world_size: 2,
            master_addr: "h".into(),
            master_port: 1,
        };
        assert_eq!(
            decide_from(Some(launcher.clone()), &s, None, 8).unwrap(),
            Launch::Single
        );
        assert_eq!(
            decide_from(Some(launcher.clone()), &settings(None), None, 8).unwrap(),
            Launch::Worker(launcher)
        );
    }
}
