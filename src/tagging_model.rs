//! Loading a trained model for tagging (`predict`, `serve`): the memory check, then the one reader of
//! a model directory.

use std::path::Path;

use anyhow::{Context, Result};
use ner_infer::{InferencePrecision, ModelDir, TrainedModel};

use crate::memory_check::{check_fits_in_memory, Use};

/// Loads the model in `dir` onto `device`, to tag in `precision`, once its encoder is known to fit in
/// memory.
pub fn load(
    dir: &Path,
    device: tch::Device,
    precision: InferencePrecision,
) -> Result<TrainedModel> {
    let context = || format!("loading the model from {}", dir.display());
    let model_dir = ModelDir::new(dir);
    let encoder = model_dir.read_encoder().with_context(context)?;
    if let Some(transformer) = encoder.transformer() {
        check_fits_in_memory(transformer, Use::Inference)
            .with_context(|| model_dir.config_path().display().to_string())?;
    }
    TrainedModel::load(&model_dir, device, precision).with_context(context)
}
