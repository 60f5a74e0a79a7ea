//! Tagging text with a trained model, and nothing of training: the model directory ([`ModelDir`],
//! the one owner of its files), the loaded model ([`TrainedModel`]), windowed and batched decoding
//! (`tagging.rs`: [`predict_chunks`]), entities with scores, the precision a forward pass runs in, and the export of the emissions network
//! (`export.rs`: TorchScript and the manifest of how to decode as `predict` does). `predict`, `serve` and the trainer's evaluation share it; it does
//! not link the optimiser, checkpoints or TensorBoard.

mod entities;
mod error;
mod export;
mod model_dir;
mod precision;
mod tagging;
mod tensors;
mod trained_model;

pub use entities::Entity;
pub use error::InferError;
pub use export::{manifest_file, network_file, INPUT_NAMES, OUTPUT_NAME};
pub use model_dir::ModelDir;
pub use ner_settings::ModelSettings;
pub use precision::{autocast_state, MixedPrecision, Precision};
pub use tagging::{
    char_tags, decode_chunks, length_sorted_chunks, predict_chunks, PredictSettings, Predictions,
    Prepared,
};
pub use tensors::BatchTensors;
pub use trained_model::{Batching, Tagged, TrainedModel};
