//! The multi-host policy.

use crate::{ContractError, InputDataConfig, ResourceConfig};

/// What this host does in a job with `instance_count > 1`.
///
/// With `distributed=auto` (the default) every host is a [`HostRole::Member`] of one process group: it
/// starts its workers, and the global rank of each is the host's index in `hosts` × workers per host,
/// plus the local rank. Rank 0 (on `hosts[0]`) writes the model; the others leave `/opt/ml/model` empty,
/// so `model.tar.gz` holds rank 0's model whether SageMaker takes one host's directory or merges them.
///
/// With `distributed=off`, the first host SageMaker lists (`hosts[0]`) trains alone; every other
/// host logs why it is idle and exits with status 0 without writing anything. (A refusal would make
/// SageMaker fail the whole job and throw away the leader's model.) The leader warns that the other
/// instances are paid for but unused.
///
/// Refused on every host, so the job fails fast: a channel delivered with `S3DistributionType:
/// ShardedByS3Key`, since every replica needs the whole dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRole {
    /// One instance (or no resourceconfig.json: a local run).
    Single,
    /// One of several hosts that train together; `index` is this host's place in `hosts`.
    Member { index: usize, hosts: Vec<String> },
    /// `hosts[0]` of several: trains; `idle` are the instances it leaves unused.
    Leader { idle: Vec<String> },
    /// Any other host: should log [`HostRole::message`] and exit successfully.
    Idle { current: String, leader: String },
}

impl HostRole {
    /// Applies the policy to the job's configs (each absent outside SageMaker); `distributed`: the
    /// hosts train together.
    pub fn decide(
        resource: Option<&ResourceConfig>,
        input: Option<&InputDataConfig>,
        distributed: bool,
    ) -> Result<Self, ContractError> {
        if let Some(r) = resource {
            let known = r.current_host.is_empty() || r.hosts.contains(&r.current_host);
            if !known {
                return Err(ContractError::UnknownHost {
                    current: r.current_host.clone(),
                    hosts: r.hosts.clone(),
                });
            }
        }
        let Some(resource) = resource.filter(|r| r.hosts.len() > 1) else {
            return Ok(HostRole::Single);
        };
        if let Some(input) = input {
            let sharded = input.channels.iter().find(|(_, c)| {
                c.s3_distribution_type
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case("ShardedByS3Key"))
            });
            if let Some((channel, _)) = sharded {
                return Err(ContractError::ShardedChannel {
                    channel: channel.clone(),
                    hosts: resource.hosts.len(),
                });
            }
        }
        if distributed {
            let index = resource
                .hosts
                .iter()
                .position(|h| *h == resource.current_host)
                .unwrap_or(0);
            return Ok(HostRole::Member {
                index,
                hosts: resource.hosts.clone(),
            });
        }
        let leader = resource.hosts[0].clone();
        if resource.current_host == leader || resource.current_host.is_empty() {
            Ok(HostRole::Leader {
                idle: resource.hosts[1..].to_vec(),
            })
        } else {
            Ok(HostRole::Idle {
                current: resource.current_host.clone(),
                leader,
            })
        }
    }

    /// Whether this host should train.
    pub fn trains(&self) -> bool {
        !matches!(self, HostRole::Idle { .. })
    }

    /// The line to log for this role; `None` for a single-instance job.
    pub fn message(&self) -> Option<String> {
        match self {
            HostRole::Single => None,
            HostRole::Member { index, hosts } => Some(format!(
                "host {} of {} ({}): the hosts train together (distributed=auto)",
                index + 1,
                hosts.len(),
                hosts[*index]
            )),
            HostRole::Leader { idle } => Some(format!(
                "training runs on this host only (distributed=off), so {} other instance(s) ({}) \
                 stay idle: set instance_count=1 to stop paying for them, or distributed=auto",
                idle.len(),
                idle.join(", ")
            )),
            HostRole::Idle { current, leader } => Some(format!(
                "{current} is idle (distributed=off): {leader} trains the model; exiting \
                 successfully without writing a model (set instance_count=1, or distributed=auto)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelConfig;

    fn resource(current: &str, hosts: &[&str]) -> ResourceConfig {
        ResourceConfig {
            current_host: current.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn single_host_and_local_runs() {
        assert_eq!(
            HostRole::decide(None, None, true).unwrap(),
            HostRole::Single
        );
        let one = resource("algo-1", &["algo-1"]);
        assert_eq!(
            HostRole::decide(Some(&one), None, true).unwrap(),
            HostRole::Single
        );
    }

    #[test]
    fn a_current_host_missing_from_hosts_is_refused() {
        for hosts in [&["algo-1", "algo-2"][..], &["algo-1"][..]] {
            let err = HostRole::decide(Some(&resource("algo-3", hosts)), None, true).unwrap_err();
            assert!(matches!(err, ContractError::UnknownHost { .. }), "{err}");
            assert!(err.to_string().contains("\"algo-3\""), "{err}");
        }
    }

    #[test]
    fn first_listed_host_trains_the_others_idle() {
        let r = resource("algo-1", &["algo-1", "algo-2"]);
        let leader = HostRole::decide(Some(&r), None, false).unwrap();
        assert_eq!(
            leader,
            HostRole::Leader {
                idle: vec!["algo-2".into()]
            }
        );
        assert!(leader.trains());
        let r = resource("algo-2", &["algo-1", "algo-2"]);
        let idle = HostRole::decide(Some(&r), None, false).unwrap();
        assert!(!idle.trains());
        assert!(idle.message().unwrap().contains("algo-1 trains"));
    }

    #[test]
    fn with_distributed_every_host_is_a_member_at_its_index() {
        let r = resource("algo-2", &["algo-1", "algo-2", "algo-3"]);
        let role = HostRole::decide(Some(&r), None, true).unwrap();
        assert_eq!(
            role,
            HostRole::Member {
                index: 1,
                hosts: vec!["algo-1".into(), "algo-2".into(), "algo-3".into()]
            }
        );
        assert!(role.trains());
        assert!(role.message().unwrap().contains("host 2 of 3"));
    }

    #[test]
    fn sharded_channels_are_refused_with_several_hosts() {
        let mut input = InputDataConfig::default();
        input.channels.insert(
            "training".into(),
            ChannelConfig {
                s3_distribution_type: Some("ShardedByS3Key".into()),
                ..Default::default()
            },
        );
        let r = resource("algo-1", &["algo-1", "algo-2"]);
        let err = HostRole::decide(Some(&r), Some(&input), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ShardedByS3Key") && err.contains("`training`"),
            "{err}"
        );
        let one = resource("algo-1", &["algo-1"]);
        assert_eq!(
            HostRole::decide(Some(&one), Some(&input), true).unwrap(),
            HostRole::Single
        );
    }
}
