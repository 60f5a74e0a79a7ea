//! Fine-tuning ALBERT+CRF for NER: the training loop and everything it needs that is not the model
//! (`albert-model`) or the data (`ner-data`). Knows nothing of SageMaker: the caller passes directories.

pub mod adamw;
pub mod amp;
pub mod checkpoint;
pub mod error;
pub mod log_line;
pub mod replicas;
pub mod schedule;
pub mod tensorboard;
pub mod trainer;

pub use adamw::PartRates;
pub use amp::{MixedPrecision, Precision};
pub use error::TrainError;
pub use replicas::Replicas;
pub use trainer::{fit, EvalSet, Outcome, TrainConfig, TrainOutputs, TrainSummary};
