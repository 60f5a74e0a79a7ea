//! The three platform-written config files besides hyperparameters. Only the fields this container
//! acts on are typed; anything else SageMaker adds later is ignored rather than refused, because the
//! platform, not the user, writes these files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `input/config/resourceconfig.json`: which host this is and who else is in the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ResourceConfig {
    #[serde(default)]
    pub current_host: String,
    /// As SageMaker lists them (`algo-1`, `algo-2`, …); `hosts[0]` is the leader.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub network_interface_name: Option<String>,
    #[serde(default)]
    pub current_instance_type: Option<String>,
    #[serde(default)]
    pub current_group_name: Option<String>,
}

/// How one channel's data reaches the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ChannelConfig {
    /// `File`, `FastFile` or `Pipe`.
    #[serde(rename = "TrainingInputMode", default)]
    pub training_input_mode: Option<String>,
    #[serde(rename = "ContentType", default)]
    pub content_type: Option<String>,
    #[serde(rename = "S3DistributionType", default)]
    pub s3_distribution_type: Option<String>,
    #[serde(rename = "RecordWrapperType", default)]
    pub record_wrapper_type: Option<String>,
}

impl ChannelConfig {
    /// Pipe mode is the one mode the data readers cannot work with (they need real files).
    pub fn is_pipe(&self) -> bool {
        self.training_input_mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("pipe"))
    }
}

/// `input/config/inputdataconfig.json`: channel name → how it is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct InputDataConfig {
    pub channels: BTreeMap<String, ChannelConfig>,
}

impl InputDataConfig {
    /// The first channel (by name) delivered in Pipe mode, if any.
    pub fn pipe_channel(&self) -> Option<&str> {
        self.channels
            .iter()
            .find(|(_, c)| c.is_pipe())
            .map(|(name, _)| name.as_str())
    }
}

/// `input/config/checkpointconfig.json`: where SageMaker syncs checkpoints to and from S3, so a
/// spot-interrupted job can resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CheckpointConfig {
    #[serde(rename = "LocalPath", default)]
    pub local_path: Option<PathBuf>,
    #[serde(rename = "S3Uri", default)]
    pub s3_uri: Option<String>,
}
