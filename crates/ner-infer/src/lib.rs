//! Tagging text with a trained model, and nothing of training: the model directory
//! ([`TrainedModel`]), windowed and batched decoding ([`tagging`]), entities with scores, and the
//! precision a forward pass runs in. `predict`, `serve` and the trainer's evaluation share it; it does
//! not link the optimiser, checkpoints or TensorBoard.

pub mod entities;
pub mod error;
pub mod precision;
pub mod tagging;
pub mod tensors;
pub mod trained_model;

pub use entities::Entity;
pub use error::InferError;
pub use precision::{MixedPrecision, Precision};
pub use tagging::{PredictSettings, Predictions, Prepared};
pub use tensors::BatchTensors;
pub use trained_model::{Batching, ModelSettings, Tagged, TrainedModel, HYPERPARAMETERS_FILE};
