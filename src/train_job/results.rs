//! What a finished job leaves behind besides the weights: `metrics.json` and the resolved
//! hyperparameters in the model directory, test scores and predictions in `output/data`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use albert_model::NerTagger;
use anyhow::{Context, Result};
use ner_data::LabelSet;
use ner_train::log_line::EvalLine;
use ner_train::trainer::score;
use ner_train::{EvalSet, Replicas, TrainConfig, TrainSummary};
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

/// `metrics.json` and `hyperparameters.json` next to the model.
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
    write_atomic(
        &paths.model_dir.join("metrics.json"),
        &serde_json::to_vec_pretty(&metrics)?,
    )?;
    write_atomic(
        &paths.model_dir.join("hyperparameters.json"),
        &serde_json::to_vec_pretty(&hp.resolved_json())?,
    )?;
    Ok(())
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
