//! What a finished job leaves behind besides the weights: its record in the model directory (resolved
//! hyperparameters and metrics), test scores and predictions in `output/data`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use albert_model::NerTagger;
use anyhow::{Context, Result};
use ner_data::LabelSet;
use ner_dist::Finished;
use ner_infer::ModelDir;
use ner_train::{
    score, EvalLine, EvalSet, Outcome, Replicas, TrainConfig, TrainOutputs, TrainSummary,
};
use sagemaker_contract::{Hyperparameters, SageMakerPaths};
use serde_json::{json, Value};
use tracing::info;

/// Scores `set` (sharded across `replicas`) and, where `paths` is given (rank 0), writes
/// `test_predictions.txt` (`char TAG`, blank line between sentences, the datasets' own form) and
/// `test_results.json`. Returns the scores, or `None` when SIGTERM (`stop`) cut the scoring short.
#[allow(clippy::too_many_arguments)]
pub fn test(
    tagger: &NerTagger,
    labels: &LabelSet,
    set: &EvalSet,
    cfg: &TrainConfig,
    summary: &TrainSummary,
    paths: Option<&SageMakerPaths>,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<Option<Value>> {
    let Some(scored) = score(tagger, labels, set, cfg, stop, replicas)? else {
        return Ok(None);
    };
    let Some(paths) = paths else {
        return Ok(None);
    };
    let (scores, token) = (&scored.entity, &scored.token);
    let (epoch, step) = summary.saved_model_epoch_and_step();
    let line = EvalLine {
        split: "test",
        epoch,
        step,
        precision: scores.micro.precision,
        recall: scores.micro.recall,
        f1: scores.micro.f1,
        loss: Some(scored.loss),
        token_macro_f1: Some(token.f1),
    };
    info!("{line}");
    // One line per token of the test file, as written there, so the file lines up with the gold.
    let text: String = set
        .sentences
        .iter()
        .zip(&scored.char_tags)
        .map(|(s, tags)| ner_data::token_tag_lines(s, tags))
        .collect();
    write_atomic(
        &paths.output_data_dir.join("test_predictions.txt"),
        text.as_bytes(),
    )?;
    let result = json!({
        "entity": scores,
        "token_macro_old_system": token,
        "loss": scored.loss,
        "sentences": set.sentences.len(),
    });
    write_atomic(
        &paths.output_data_dir.join("test_results.json"),
        &serde_json::to_vec_pretty(&result)?,
    )?;
    Ok(Some(result))
}

/// The job's record next to the model: its resolved hyperparameters and what it measured.
pub fn write_model_files(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    s: &TrainSummary,
    test: Option<&Value>,
) -> Result<()> {
    let metrics = json!({
        "global_step": s.global_step,
        "train_seconds": s.train_seconds,
        "time_budget_reached": s.time_budget_reached,
        "best_validation_entity_f1": s.best_f1,
        "best_step": s.best_step,
        "best_epoch": s.best_epoch,
        "validation_history": s.history,
        "test": test,
        "resumed_from": s.resumed_from,
    });
    ModelDir::new(&paths.model_dir).write_job_record(&hp.resolved_json(), &metrics)?;
    Ok(())
}

/// Creates `output/` and `checkpoints/` and checks they can be written, before any data is read;
/// removes what a killed earlier run left half-written.
pub fn prepare_output_dirs(paths: &SageMakerPaths) -> Result<()> {
    paths.create_output_dirs()?;
    paths.check_writable()?;
    for partial in paths.remove_partial_files()? {
        info!("removed a half-written file: {}", partial.display());
    }
    Ok(())
}

/// Where rank 0's trainer writes: the model directory, checkpoints, TensorBoard events and
/// evaluation results; `vocab` is copied beside the model.
pub fn train_outputs(paths: &SageMakerPaths, vocab: &Path) -> TrainOutputs {
    TrainOutputs {
        model_dir: Some(ModelDir::new(&paths.model_dir)),
        checkpoint_dir: Some(paths.checkpoint_dir.clone()),
        tensorboard_dir: Some(paths.tensorboard_dir.clone()),
        eval_dir: Some(paths.output_data_dir.clone()),
        vocab_path: vocab.to_path_buf(),
    }
}

/// The line that ends a training run that was not stopped.
/// A run stopped by SIGTERM, logged with where a restart resumes; `None` for any other outcome.
pub fn stopped(outcome: &Outcome, global_step: usize) -> Option<Finished> {
    let Outcome::Stopped { checkpoint } = outcome else {
        return None;
    };
    match checkpoint {
        Some(c) => info!(
            "stopped by SIGTERM at step {global_step}: checkpoint {}; a restart resumes from it",
            c.display()
        ),
        None => info!("stopped by SIGTERM at step {global_step}"),
    }
    Some(Finished::Stopped)
}

pub fn log_summary(summary: &TrainSummary) {
    info!(
        "training finished{}: {} steps in {:.0} s; best validation entity F1 {}",
        if summary.time_budget_reached {
            " (max_train_seconds)"
        } else {
            ""
        },
        summary.global_step,
        summary.train_seconds,
        summary.best_f1.map_or("n/a".into(), |f| format!(
            "{f:.4} (step {})",
            summary.best_step.unwrap_or(0)
        ))
    );
}

/// Temporary file then rename: a job killed mid-write never leaves a truncated file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("output path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
