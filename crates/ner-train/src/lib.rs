//! Fine-tuning ALBERT+CRF for NER: the training loop and everything it needs that is not the model
//! (`albert-model`) or the data (`ner-data`). Knows nothing of SageMaker: the caller passes directories.

mod adamw;
mod amp;
mod checkpoint;
mod clock;
mod error;
mod log_line;
mod pretrainer;
mod replicas;
mod schedule;
mod tensorboard;
mod trainer;

pub use adamw::{AdamW, PartRates};
pub use amp::{MixedPrecision, Precision};
pub use checkpoint::Progress;
pub use error::TrainError;
pub use log_line::{EvalLine, MlmEvalLine};
pub use pretrainer::{
    pretrain, MlmScores, PretrainConfig, PretrainData, PretrainOutputs, PretrainSummary,
};
pub use replicas::Replicas;
pub use trainer::{fit, score, EvalSet, Outcome, Scored, TrainConfig, TrainOutputs, TrainSummary};
