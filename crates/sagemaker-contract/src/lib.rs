//! The SageMaker training-container contract: the only library in the workspace that knows
//! `/opt/ml`. Everything else takes plain paths and typed settings from here.
//!
//! * [`SageMakerPaths`]: the directory layout (`$SAGEMAKER_BASE_DIR` moves it for local runs).
//! * [`DataChannels`]: which files are train / validation / test data and where pretrained
//!   weights are; Pipe mode is refused.
//! * [`Hyperparameters`]: typed, defaulted, accepting both SDK 2.x (`str()`) and SDK 3.x (JSON)
//!   encodings of every value; the closed sets of values are `ner_settings`' types.
//! * [`ResourceConfig`], [`InputDataConfig`], [`CheckpointConfig`]: the other platform configs.
//! * [`PretrainedSource`]: the one source of pretrained weights (channel, `init_checkpoint` or
//!   `pretrained_model_uri`; two at once are refused).
//! * [`HostRole`]: the multi-host policy. With `distributed=auto` every host is a member of one
//!   process group (rank 0 on `hosts[0]` writes the model); with `distributed=off` `hosts[0]` trains
//!   alone and every other host logs why it is idle and exits 0 without writing a model (SageMaker
//!   fails the whole job when any host exits non-zero). A `ShardedByS3Key` channel with several hosts
//!   is refused, since each replica needs the whole dataset. Full reasoning on [`HostRole`].
//! * [`write_failure`], [`FailureReport`]: the `output/failure` file that becomes the job's
//!   `FailureReason`.

mod channels;
mod configs;
mod disk_space;
mod error;
mod failure;
mod hosts;
mod hyperparameters;
mod json_file;
mod paths;
mod pretrained;
mod serving;

pub use channels::{
    data_files, refuse_pipe_mode, DataChannels, EMBEDDINGS_CHANNEL, MAX_CHANNEL_DEPTH,
    PRETRAINED_CHANNEL, TEST_CHANNEL, TRAINING_CHANNEL, VALIDATION_CHANNEL,
};
pub use configs::{ChannelConfig, CheckpointConfig, InputDataConfig, ResourceConfig};
pub use disk_space::{check_free_space, PlannedWrite};
pub use error::ContractError;
pub use failure::{write_failure, FailureReport, MAX_FAILURE_BYTES};
pub use hosts::HostRole;
pub use hyperparameters::{Hyperparameters, IGNORED_HYPERPARAMETERS, KNOWN_HYPERPARAMETERS};
pub use paths::{SageMakerPaths, BASE_DIR_ENV, DEFAULT_BASE_DIR};
pub use pretrained::PretrainedSource;
pub use serving::ServingEnv;
