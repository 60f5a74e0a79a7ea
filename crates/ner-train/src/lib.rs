//! Fine-tuning ALBERT+CRF for NER: the training loop and everything it needs that is not the model
//! (`albert-model`) or the data (`ner-data`). Knows nothing of SageMaker: the caller passes directories.

pub mod adamw;
pub mod amp;
pub mod checkpoint;
pub mod error;
pub mod schedule;
pub mod tensorboard;

pub use error::TrainError;
