//! The SageMaker training-container contract: the only library in the workspace that knows
//! `/opt/ml`. Everything else takes plain paths and typed settings from here.
//!
//! * [`SageMakerPaths`]: the directory layout (`$SAGEMAKER_BASE_DIR` moves it for local runs).
//! * [`DataChannels`]: which files are train / validation / test data and where pretrained
//!   weights are; Pipe mode is refused.
//! * [`Hyperparameters`]: typed, defaulted, accepting both SDK 2.x (`str()`) and SDK 3.x (JSON)
//!   encodings of every value.
//! * [`ResourceConfig`], [`InputDataConfig`], [`CheckpointConfig`]: the other platform configs.
//! * [`HostRole`]: the multi-host policy (see its docs).
//! * [`write_failure`], [`FailureReport`]: the `output/failure` file that becomes the job's
//!   `FailureReason`.

mod channels;
mod configs;
mod error;
mod failure;
mod hosts;
mod hyperparameters;
mod json_file;
mod paths;

pub use channels::{
    data_files, refuse_pipe_mode, DataChannels, PRETRAINED_CHANNEL, TEST_CHANNEL, TRAINING_CHANNEL,
    VALIDATION_CHANNEL,
};
pub use configs::{ChannelConfig, CheckpointConfig, InputDataConfig, ResourceConfig};
pub use error::ContractError;
pub use failure::{write_failure, FailureReport, MAX_FAILURE_BYTES};
pub use hosts::HostRole;
pub use hyperparameters::{
    DataFormat, Device, Head, Hyperparameters, MixedPrecision, IGNORED_HYPERPARAMETERS,
    KNOWN_HYPERPARAMETERS,
};
pub use paths::{SageMakerPaths, BASE_DIR_ENV, DEFAULT_BASE_DIR};
