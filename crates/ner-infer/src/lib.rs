//! Tagging text with a trained model, and nothing of training: the model directory ([`ModelDir`],
//! the one owner of its files), the loaded model ([`TrainedModel`]), windowed and batched decoding
//! (`tagging.rs`: [`predict_chunks`]), entities with scores, the precision a model tags in ([`InferenceMode`]:
//! int8 or bf16 linear layers on a CPU, autocast on a GPU), and the export of the emissions network
//! (`export.rs`: TorchScript and the manifest of how to decode as `predict` does). `predict`, `serve` and the trainer's evaluation share it; it does
//! not link the optimiser, checkpoints or TensorBoard.

mod cpu_features;
mod entities;
mod error;
mod export;
mod inference_mode;
mod model_dir;
mod precision;
mod tagging;
mod tensors;
mod trained_model;

pub use cpu_features::{cpu_has_bf16, flags_have_bf16};
pub use entities::Entity;
pub use error::InferError;
pub use export::{manifest_file, network_file, INPUT_NAMES, OUTPUT_NAME};
pub use inference_mode::{auto_on_cpu, CpuSupport, InferenceMode};
pub use model_dir::ModelDir;
pub use ner_settings::InferencePrecision;
pub use ner_settings::ModelSettings;
pub use precision::{autocast_state, MixedPrecision, Precision};
pub use tagging::{
    char_tags, decode_chunks, length_sorted_chunks, predict_chunks, PredictSettings, Predictions,
    Prepared,
};
pub use tensors::BatchTensors;
pub use trained_model::{Batching, Tagged, TrainedModel};
