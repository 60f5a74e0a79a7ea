//! The multi-host policy.

use crate::{ContractError, InputDataConfig, ResourceConfig};

/// What this host does in a job with `instance_count > 1`.
///
/// Training is single-host for now. The policy: the first host SageMaker lists (`hosts[0]`, in
/// the order resourceconfig.json gives, i.e. `algo-1`) trains; every other host logs why it is idle
/// and exits with status 0 without writing anything to `/opt/ml/model`.
///
/// Why not refuse? SageMaker marks the whole job Failed when any host exits non-zero, so a refusal
/// on the extra hosts would throw away the leader's finished model, and a refusal everywhere would
/// turn a costly-but-harmless setting into a failed job. Why write nothing on the idle hosts?
/// SageMaker collects `/opt/ml/model` at the end of the job, and whether it takes one host's
/// directory or merges several, an empty directory on the idle hosts leaves `model.tar.gz` holding
/// exactly the leader's model. The leader logs a warning that the other instances are paid for
/// but unused.
///
/// The one case that is refused (on every host, so the job fails fast): a channel delivered with
/// `S3DistributionType: ShardedByS3Key`, where the leader would silently train on its shard only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRole {
    /// One instance (or no resourceconfig.json: a local run).
    Single,
    /// `hosts[0]` of several: trains; `idle` are the instances it leaves unused.
    Leader { idle: Vec<String> },
    /// Any other host: should log [`HostRole::message`] and exit successfully.
    Idle { current: String, leader: String },
}

impl HostRole {
    /// Applies the policy to the job's configs (each absent outside SageMaker).
    pub fn decide(
        resource: Option<&ResourceConfig>,
        input: Option<&InputDataConfig>,
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
            HostRole::Leader { idle } => Some(format!(
                "training runs on this host only; distributed training is not supported, so \
                 {} other instance(s) ({}) stay idle: set instance_count=1 to stop paying for them",
                idle.len(),
                idle.join(", ")
            )),
            HostRole::Idle { current, leader } => Some(format!(
                "{current} is idle: distributed training is not supported, {leader} trains the model; \
                 exiting successfully without writing a model (set instance_count=1)"
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
        assert_eq!(HostRole::decide(None, None).unwrap(), HostRole::Single);
        let one = resource("algo-1", &["algo-1"]);
        assert_eq!(
            HostRole::decide(Some(&one), None).unwrap(),
            HostRole::Single
        );
    }

    #[test]
    fn a_current_host_missing_from_hosts_is_refused() {
        for hosts in [&["algo-1", "algo-2"][..], &["algo-1"][..]] {
            let err = HostRole::decide(Some(&resource("algo-3", hosts)), None).unwrap_err();
            assert!(matches!(err, ContractError::UnknownHost { .. }), "{err}");
            assert!(err.to_string().contains("\"algo-3\""), "{err}");
        }
    }

    #[test]
    fn first_listed_host_trains_the_others_idle() {
        let r = resource("algo-1", &["algo-1", "algo-2"]);
        let leader = HostRole::decide(Some(&r), None).unwrap();
        assert_eq!(
            leader,
            HostRole::Leader {
                idle: vec!["algo-2".into()]
            }
        );
        assert!(leader.trains());
        let r = resource("algo-2", &["algo-1", "algo-2"]);
        let idle = HostRole::decide(Some(&r), None).unwrap();
        assert!(!idle.trains());
        assert!(idle.message().unwrap().contains("algo-1 trains"));
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
        let err = HostRole::decide(Some(&r), Some(&input))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ShardedByS3Key") && err.contains("`training`"),
            "{err}"
        );
        let one = resource("algo-1", &["algo-1"]);
        assert_eq!(
            HostRole::decide(Some(&one), Some(&input)).unwrap(),
            HostRole::Single
        );
    }
}
