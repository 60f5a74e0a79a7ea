//! Tagging text with a trained model, and nothing of training: the model directory ([`ModelDir`],
//! the one owner of its files), the loaded model ([`TrainedModel`]), windowed and batched decoding
//! (`tagging.rs`: [`predict_chunks`]), entities with scores, and the precision a forward pass runs in. `predict`, `serve` and the trainer's evaluation share it; it does
//! not link the optimiser, checkpoints or TensorBoard.

mod entities;
mod error;
mod model_dir;
mod precision;
mod tagging;
mod tensors;
mod trained_model;

pub use entities::Entity;
pub use error::InferError;
pub use model_dir::ModelDir;
pub use ner_settings::ModelSettings;
pub use precision::{autocast_state, MixedPrecision, Precision};
pub use tagging::{
    char_tags, decode_chunks, length_sorted_chunks, predict_chunks, PredictSettings, Predictions,
    Prepared,
};
pub use tensors::BatchTensors;
pub use trained_model::{Batching, Tagged, TrainedModel};
