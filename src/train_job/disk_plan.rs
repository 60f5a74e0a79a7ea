//! What a training job will write, by directory, for the free-space check before it reads its data.

use albert_model::EncoderSpec;
use anyhow::Result;
use sagemaker_contract::{
    check_free_space, DataChannels, Hyperparameters, PlannedWrite, SageMakerPaths,
};

/// Room for the small files beside each output (configs, vocabulary, metrics, events, logs).
const SMALL_FILES: u64 = 2 << 20;
/// Predictions written per byte of test data (the text again, with tags and JSON).
const PREDICTION_BYTES_PER_INPUT_BYTE: u64 = 4;

/// Refuses a job whose model, checkpoints and results cannot fit on their disks.
pub fn check(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    encoder: &EncoderSpec,
    channels: &DataChannels,
) -> Result<()> {
    Ok(check_free_space(&planned_writes(
        paths, hp, encoder, channels,
    ))?)
}

fn planned_writes(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    encoder: &EncoderSpec,
    channels: &DataChannels,
) -> Vec<PlannedWrite> {
    // fp32 weights in the model; weights and AdamW's two moments in a checkpoint.
    let weights = (encoder.parameter_count() * 4.0) as u64;
    let checkpoint = 3 * weights;
    // The kept ones, the one being written before the oldest goes, and the best model's copy.
    let kept = hp.train.keep_checkpoints as u64 + 1;
    let test_bytes: u64 = channels
        .test
        .iter()
        .flatten()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    vec![
        PlannedWrite {
            dir: paths.model_dir.clone(),
            bytes: weights + SMALL_FILES,
            what: "the model".into(),
        },
        PlannedWrite {
            dir: paths.checkpoint_dir.clone(),
            bytes: kept * checkpoint + weights + SMALL_FILES,
            what: format!(
                "{kept} checkpoints of {:.1} MB and the best model",
                checkpoint as f64 / 1e6
            ),
        },
        PlannedWrite {
            dir: paths.output_data_dir.clone(),
            bytes: test_bytes * PREDICTION_BYTES_PER_INPUT_BYTE + SMALL_FILES,
            what: "test predictions and results".into(),
        },
    ]
}
