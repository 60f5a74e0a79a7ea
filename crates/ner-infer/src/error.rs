//! Why a model directory cannot be served or written.

use std::path::PathBuf;

/// A model directory that cannot be loaded or used as asked.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Model(#[from] albert_model::ModelError),
    #[error(transparent)]
    Data(#[from] ner_data::DataError),
    #[error("{path}: {message}")]
    Settings { path: PathBuf, message: String },
    /// A precision this device or CPU cannot tag in.
    #[error("precision {requested}: {message}")]
    Precision { requested: String, message: String },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
