//! One error type for the crate, so the trainer and `predict` can report a failed load by file, tensor
//! and shape without string matching.

use std::path::PathBuf;

/// Everything that can go wrong building, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid model config{}: {message}", path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
    Config {
        path: Option<PathBuf>,
        message: String,
    },
    #[error("{path}: no recognised weights found ({message})")]
    UnknownFormat { path: PathBuf, message: String },
    #[error("{file}: tensor `{tensor}` is missing (the model expects shape {expected:?})")]
    MissingTensor {
        file: PathBuf,
        tensor: String,
        expected: Vec<i64>,
    },
    #[error(
        "{file}: unexpected tensor `{tensor}` with shape {shape:?}; it is not part of the model"
    )]
    UnexpectedTensor {
        file: PathBuf,
        tensor: String,
        shape: Vec<i64>,
    },
    #[error("{file}: tensor `{tensor}` has shape {found:?} but the model expects {expected:?}")]
    ShapeMismatch {
        file: PathBuf,
        tensor: String,
        found: Vec<i64>,
        expected: Vec<i64>,
    },
    #[error("{file}: tensor `{tensor}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        file: PathBuf,
        tensor: String,
        dtype: String,
    },
    #[error("{file}: {source}")]
    Torch {
        file: PathBuf,
        #[source]
        source: tch::TchError,
    },
    #[error("{file}: {message}")]
    Checkpoint { file: PathBuf, message: String },
    /// A TF checkpoint whose variables do not all fit the model: every problem, found at once.
    #[error("{file}: the {layout} checkpoint does not fit its config: {}", problems.join("; "))]
    LoadPlan {
        file: PathBuf,
        layout: String,
        problems: Vec<String>,
    },
    /// libtorch could not quantize or prepack a linear layer's weight for int8 inference.
    #[error("int8 quantization of a linear layer failed: {message}")]
    Quantize { message: String },
}

/// Crate-wide result alias.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(path: Option<&std::path::Path>, message: impl Into<String>) -> Self {
        ModelError::Config {
            path: path.map(PathBuf::from),
            message: message.into(),
        }
    }
}
