//! Errors of the training pipeline; each names the file or setting involved.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Tch {
        path: PathBuf,
        source: tch::TchError,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("invalid training setting: {0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] albert_model::ModelError),
    #[error(transparent)]
    Data(#[from] ner_data::DataError),
    /// Writing or reading the model directory.
    #[error(transparent)]
    ModelDir(#[from] ner_infer::InferError),
    #[error(
        "training diverged: loss is {loss} at step {step}; lower learning_rate or check the data"
    )]
    Diverged { loss: f64, step: usize },
    /// A collective failed: a peer died, timed out or could not be reached. Not transparent: the
    /// `DistError` stays in the error's chain, where the job looks for a lost peer or a stop.
    #[error("{0}")]
    Distributed(#[from] ner_dist::DistError),
}

impl TrainError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn io_tch(path: &Path, source: tch::TchError) -> Self {
        Self::Tch {
            path: path.to_path_buf(),
            source,
        }
    }
}
