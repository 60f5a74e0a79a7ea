//! Validation during training: scoring the model on the validation set, logging and recording the
//! result, keeping the best model, and early stopping's patience.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use albert_model::NerTagger;
use ner_data::LabelSet;
use ner_data::{entity_scores, token_macro_scores, EntityScores, TokenMacroScores};
use serde_json::json;
use tracing::{info, warn};

use super::{EvalSet, RunContext, TrainConfig};
use crate::checkpoint::{self, Progress};
use crate::error::TrainError;
use crate::log_line::EvalLine;
use crate::replicas::Replicas;
use crate::tensorboard::EventWriter;
use ner_infer::{char_tags, decode_chunks, length_sorted_chunks, PredictSettings};

/// What an evaluation tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EvalOutcome {
    Continue,
    /// Early stopping's patience ran out.
    EarlyStop,
    /// SIGTERM arrived mid-way; `Progress::pending_eval` is set so a resumed run evaluates first.
    Interrupted,
}

impl RunContext<'_> {
    /// Scores the model on the validation set and saves it when it is the best so far.
    pub(super) fn evaluate(
        &self,
        progress: &mut Progress,
        epoch: usize,
        tb: Option<&mut EventWriter>,
    ) -> Result<EvalOutcome, TrainError> {
        let Self {
            tagger,
            vs,
            spec,
            labels,
            validation,
            cfg,
            out,
            stop,
            replicas,
        } = *self;
        let Some(valid) = validation else {
            return Ok(EvalOutcome::Continue);
        };
        let started = Instant::now();
        let Some(Scored {
            entity: scores,
            token,
            loss,
            ..
        }) = score(tagger, labels, valid, cfg, stop, replicas)?
        else {
            warn!(
                "evaluation at step {} interrupted by SIGTERM",
                progress.global_step
            );
            progress.pending_eval = true;
            return Ok(EvalOutcome::Interrupted);
        };
        progress.pending_eval = false;
        let token_f1 = token.f1;
        let step = progress.global_step;
        let line = EvalLine {
            split: "eval",
            epoch: epoch + 1,
            step,
            precision: scores.micro.precision,
            recall: scores.micro.recall,
            f1: scores.micro.f1,
            loss: Some(loss),
            token_macro_f1: Some(token_f1),
        };
        info!("{line}");
        for (ty, s) in &scores.types {
            info!(
                "eval_type: type={ty} precision={:.4} recall={:.4} f1={:.4} gold={} predicted={}",
                s.precision, s.recall, s.f1, s.gold, s.pred
            );
        }
        if let Some(tb) = tb {
            tb.scalar("eval/entity_f1", scores.micro.f1, step as i64)?;
            tb.scalar("eval/entity_precision", scores.micro.precision, step as i64)?;
            tb.scalar("eval/entity_recall", scores.micro.recall, step as i64)?;
            tb.scalar("eval/loss", loss, step as i64)?;
        }
        let record = json!({
            "epoch": epoch + 1,
            "step": step,
            "loss": loss,
            "entity": scores,
            "token_macro_f1_old_system": token_f1,
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(dir) = &out.eval_dir {
            append_jsonl(&dir.join("eval_results.jsonl"), &record)?;
        }
        progress.history.push(record);
        let improved = progress.best_f1.is_none_or(|best| scores.micro.f1 > best);
        if improved {
            progress.best_f1 = Some(scores.micro.f1);
            progress.best_step = Some(step);
            progress.evals_without_improvement = 0;
            if let Some(model_dir) = out.save_model(vs, spec)? {
                if let Some(dir) = &out.checkpoint_dir {
                    checkpoint::save_best(dir, model_dir, step, scores.micro.f1)?;
                }
                info!(
                    "new best entity F1 {:.4} at step {step}: model saved to {}",
                    scores.micro.f1,
                    model_dir.path().display()
                );
            }
        } else {
            progress.evals_without_improvement += 1;
        }
        if cfg.train.early_stopping_patience > 0
            && progress.evals_without_improvement >= cfg.train.early_stopping_patience
        {
            Ok(EvalOutcome::EarlyStop)
        } else {
            Ok(EvalOutcome::Continue)
        }
    }
}

/// A model's predictions on a gold-tagged set, and how they score.
pub struct Scored {
    /// Per sentence, one tag per character.
    pub char_tags: Vec<Vec<String>>,
    pub entity: EntityScores,
    /// The replaced system's token-level macro score, for comparison only.
    pub token: TokenMacroScores,
    pub loss: f64,
}

/// Predicts `set` and scores it against its gold tags; `None` when `stop` was raised before the end.
/// With replicas, each rank decodes every world-size-th batch and the decodings are merged, so every
/// rank gets the whole set's scores, equal to one process's.
pub fn score(
    tagger: &NerTagger,
    labels: &LabelSet,
    set: &EvalSet,
    cfg: &TrainConfig,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<Option<Scored>, TrainError> {
    let settings = PredictSettings {
        device: cfg.device,
        precision: cfg.precision,
        bio_constraints: cfg.bio_constraints,
        with_loss: true,
        with_confidence: false,
    };
    let data = &set.prepared;
    let chunks = length_sorted_chunks(&data.features, cfg.train.eval_batch_size);
    let (world, rank) = (replicas.world_size(), replicas.rank());
    // Every rank takes the same number of turns (an empty chunk is a turn that decodes nothing), so
    // that the stop can be agreed before each.
    let mine: Vec<Vec<usize>> = (0..chunks.len().div_ceil(world))
        .map(|turn| chunks.get(turn * world + rank).cloned().unwrap_or_default())
        .collect();
    let mut failure = None;
    let decoded = decode_chunks(tagger, data, settings, &mine, || {
        match replicas.any(stop.load(Ordering::SeqCst)) {
            Ok(stopping) => !stopping,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(mut units) = decoded else {
        return Ok(None);
    };
    let lengths: Vec<usize> = data
        .features
        .iter()
        .map(|f| f.tag_positions.len())
        .collect();
    replicas.merge_unit_tags(&mut units.per_feature, &lengths)?;
    let mut loss = [units.loss_sum, units.loss_batches as f64];
    replicas.sum_f64(&mut loss)?;
    let char_tags = char_tags(labels, data, &units.per_feature);
    let gold: Vec<Vec<String>> = set.sentences.iter().map(|s| s.tags.clone()).collect();
    let entity = entity_scores(&gold, &char_tags);
    let token = token_macro_scores(&gold, &char_tags, labels);
    Ok(Some(Scored {
        char_tags,
        entity,
        token,
        loss: if loss[1] > 0.0 {
            loss[0] / loss[1]
        } else {
            0.0
        },
    }))
}

pub(crate) fn append_jsonl(
    path: &std::path::Path,
    value: &serde_json::Value,
) -> Result<(), TrainError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    writeln!(f, "{value}").map_err(|e| TrainError::io(path, e))
}
