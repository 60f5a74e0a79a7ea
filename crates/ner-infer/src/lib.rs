//! Tagging text with a trained model, and nothing of training: the model directory ([`ModelDir`],
//! the one owner of its files), the loaded model ([`TrainedModel`]), windowed and batched decoding ([`tagging`]), entities with scores, and the
//! precision a forward pass runs in. `predict`, `serve` and the trainer's evaluation share it; it does
//! not link the optimiser, checkpoints or TensorBoard.

pub mod entities;
pub mod error;
mod model_dir;
pub mod precision;
pub mod tagging;
pub mod tensors;
pub mod trained_model;

pub use entities::Entity;
pub use error::InferError;
pub use model_dir::ModelDir;
pub use ner_settings::ModelSettings;
pub use precision::{MixedPrecision, Precision};
pub use tagging::{PredictSettings, Predictions, Prepared};
pub use tensors::BatchTensors;
pub use trained_model::{Batching, Tagged, TrainedModel};
