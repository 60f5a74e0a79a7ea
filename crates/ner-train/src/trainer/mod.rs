//! The fine-tuning loop: bucketed batches, AdamW with a separate head learning rate, warm-up and decay,
//! gradient accumulation and clipping, mixed precision, evaluation, best-model keeping, early stopping,
//! resumable checkpoints, a time budget and a cooperative stop (SIGTERM) at step boundaries or
//! mid-evaluation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use albert_model::{save_model, NerTagger, TaggerSpec};
use ner_data::metrics::{entity_scores, token_macro_scores, EntityScores, TokenMacroScores};
use ner_data::{collate, Batcher, LabelSet, Sentence};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind};
use tracing::{info, warn};

use crate::adamw::AdamW;
use crate::amp::{LossScaler, Precision};
use crate::checkpoint::{self, Progress};
use crate::error::TrainError;
use crate::inference::{predict_unless_stopped, PredictSettings, Prepared};
use crate::log_line::{format_duration, EvalLine, TrainLine};
use crate::schedule::LinearSchedule;
use crate::tensorboard::EventWriter;
use crate::tensors::BatchTensors;

/// Optimisation settings. Field names follow the hyperparameters they come from.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub num_train_epochs: f64,
    /// Stop after this many optimiser steps (0: by epochs).
    pub max_steps: usize,
    /// Stop at the first step boundary after this many seconds of training, counted across resumed
    /// runs (0: no limit). The learning-rate schedule still follows the step count, so set
    /// `max_steps` to what fits for a full decay.
    pub max_train_seconds: f64,
    pub train_batch_size: usize,
    pub eval_batch_size: usize,
    pub learning_rate: f64,
    /// The classifier and CRF learn at `learning_rate` × this.
    pub head_lr_multiplier: f64,
    pub weight_decay: f64,
    pub warmup_proportion: f64,
    pub max_grad_norm: f64,
    pub gradient_accumulation_steps: usize,
    pub seed: u64,
    pub precision: Precision,
    pub device: Device,
    pub logging_steps: usize,
    /// Evaluate every N optimiser steps (0: once per epoch).
    pub eval_steps: usize,
    /// Stop after this many evaluations without a better F1 (0: never).
    pub early_stopping_patience: usize,
    pub checkpoint_steps: usize,
    pub keep_checkpoints: usize,
    pub bio_constraints: bool,
}

/// Where results go. Only `model_dir` is required.
#[derive(Debug, Clone)]
pub struct TrainOutputs {
    /// Best model by validation F1 (or the final one without validation data).
    pub model_dir: PathBuf,
    /// Resumable checkpoints; `None` disables them.
    pub checkpoint_dir: Option<PathBuf>,
    pub tensorboard_dir: Option<PathBuf>,
    /// `eval_results.jsonl`: one JSON line per evaluation.
    pub eval_dir: Option<PathBuf>,
    /// vocab.txt copied next to the saved model.
    pub vocab_path: PathBuf,
}

/// Sentences with gold tags, prepared for the model.
pub struct EvalSet {
    pub sentences: Vec<Sentence>,
    pub prepared: Prepared,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Finished,
    /// Stopped by request (SIGTERM); a checkpoint was written when a directory was configured.
    Stopped {
        checkpoint: Option<PathBuf>,
    },
}

/// Result of [`fit`].
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub outcome: Outcome,
    pub global_step: usize,
    pub best_f1: Option<f64>,
    pub best_step: Option<usize>,
    /// 1-based epoch of `best_step`.
    pub best_epoch: Option<usize>,
    /// 1-based epoch of the last optimiser step (0 before the first).
    pub last_epoch: usize,
    pub history: Vec<serde_json::Value>,
    pub resumed_from: Option<PathBuf>,
    /// Seconds spent in training and validation, including runs this one resumed.
    pub train_seconds: f64,
    /// Training ended on `max_train_seconds` rather than on its step count or early stopping.
    pub time_budget_reached: bool,
}

impl TrainSummary {
    /// (1-based epoch, step) of the weights the model directory holds: the best by validation
    /// F1, or the last step's when nothing was validated. The epoch is 0 when unknown (no
    /// validation record for the best step).
    pub fn saved_model_epoch_and_step(&self) -> (usize, usize) {
        match self.best_step {
            Some(step) => (self.best_epoch.unwrap_or(0), step),
            None => (self.last_epoch, self.global_step),
        }
    }
}

/// Trains `tagger` (whose variables live in `vs`) on `train`, selecting on `validation`.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    tagger: &NerTagger,
    vs: &mut VarStore,
    spec: &TaggerSpec,
    labels: &LabelSet,
    train: &Prepared,
    validation: Option<&EvalSet>,
    cfg: &TrainConfig,
    out: &TrainOutputs,
    stop: &AtomicBool,
) -> Result<TrainSummary, TrainError> {
    if train.features.is_empty() {
        return Err(TrainError::Config("no training sentences".into()));
    }
    let accum = cfg.gradient_accumulation_steps.max(1);
    let batcher = Batcher::new(&train.features, cfg.train_batch_size.max(1));
    let batches_per_epoch = batcher.num_batches();
    let steps_per_epoch = batches_per_epoch.div_ceil(accum);
    let total_steps = if cfg.max_steps > 0 {
        cfg.max_steps
    } else {
        ((cfg.num_train_epochs * steps_per_epoch as f64).ceil() as usize).max(1)
    };
    let schedule = LinearSchedule::new(total_steps, cfg.warmup_proportion);
    let mut opt = AdamW::for_tagger(vs, cfg.head_lr_multiplier, cfg.weight_decay);

    let mut progress = Progress {
        loss_scale: 65536.0,
        ..Progress::default()
    };
    let mut resumed_from = None;
    if let Some(dir) = &out.checkpoint_dir {
        for partial in checkpoint::remove_partial(dir)? {
            info!("removed a half-written checkpoint: {}", partial.display());
        }
        let skip = |p: &std::path::Path, e: &TrainError| {
            warn!("skipping checkpoint {}: {e}", p.display());
        };
        if let Some((p, path)) = checkpoint::resume_latest(dir, vs, &mut opt, skip) {
            info!(
                "resuming from checkpoint {} (step {}, epoch {}, batch {} of {})",
                path.display(),
                p.global_step,
                p.epoch + 1,
                p.batch_in_epoch,
                batches_per_epoch
            );
            progress = p;
            resumed_from = Some(path);
            log_recovery(
                checkpoint::recover_best(dir, &out.model_dir, &mut progress)?,
                dir,
            );
        }
    }
    let vs: &VarStore = vs;
    let started = Instant::now();
    let seconds_before = progress.train_seconds;
    let clock = |progress: &mut Progress| {
        progress.train_seconds = seconds_before + started.elapsed().as_secs_f64();
    };
    let out_of_time =
        |p: &Progress| cfg.max_train_seconds > 0.0 && p.train_seconds >= cfg.max_train_seconds;
    let evaluator = Evaluator {
        tagger,
        vs,
        spec,
        labels,
        validation,
        cfg,
        out,
        stop,
    };
    // The SIGTERM exit, wherever it is noticed: a checkpoint of `progress` (which records an
    // interrupted evaluation as owed), then the summary.
    let stopped = |mut progress: Progress, opt: &AdamW| -> Result<TrainSummary, TrainError> {
        clock(&mut progress);
        let checkpoint = match &out.checkpoint_dir {
            Some(dir) => Some(checkpoint::save(
                dir,
                vs,
                opt,
                &progress,
                cfg.keep_checkpoints,
            )?),
            None => None,
        };
        Ok(summary(
            Outcome::Stopped { checkpoint },
            progress,
            resumed_from.clone(),
            false,
        ))
    };
    let mut scaler = LossScaler::new(progress.loss_scale);
    let mut tb = match &out.tensorboard_dir {
        Some(d) => Some(EventWriter::create(d)?),
        None => None,
    };
    let total_epochs = total_steps.div_ceil(steps_per_epoch.max(1));
    info!(
        "training: {} sentences → {} windows, {} batches/epoch, {} optimiser steps ({} epochs), \
         batch {} × accumulation {}, precision {:?}, device {:?}",
        train
            .features
            .iter()
            .map(|f| f.sentence)
            .max()
            .map_or(0, |m| m + 1),
        train.features.len(),
        batches_per_epoch,
        total_steps,
        total_epochs,
        cfg.train_batch_size,
        accum,
        cfg.precision,
        cfg.device
    );

    let mut window_start = Instant::now();
    let mut window_samples = 0usize;
    let mut window_loss = 0.0;
    let mut window_batches = 0usize;
    let mut last_evaluated_step = None;
    let steps_at_start = progress.global_step;
    let mut stopped_early = false;
    let mut time_budget_reached = out_of_time(&progress);
    if progress.pending_eval {
        info!(
            "evaluating step {} first: its evaluation was interrupted",
            progress.global_step
        );
        let epoch = progress.epoch_of_last_step();
        match evaluator.run(&mut progress, epoch, tb.as_mut())? {
            EvalOutcome::Interrupted => return stopped(progress, &opt),
            outcome => stopped_early = outcome == EvalOutcome::EarlyStop,
        }
        last_evaluated_step = Some(progress.global_step);
    }

    'epochs: while !stopped_early && !time_budget_reached && progress.global_step < total_steps {
        let epoch = progress.epoch;
        let batches = batcher.epoch(cfg.seed, epoch as u64);
        let mut micro = 0usize;
        for (bi, indices) in batches.iter().enumerate().skip(progress.batch_in_epoch) {
            let batch = &collate(&train.features, indices);
            // Dropout noise is a function of (seed, epoch, batch): a resumed run sees the same masks.
            tch::manual_seed((cfg.seed as i64) ^ ((epoch as i64) << 32) ^ bi as i64);
            let t = BatchTensors::new(batch, cfg.device);
            let emissions = cfg
                .precision
                .autocast(|| {
                    tagger.emissions(&t.input_ids, &t.attention_mask, &t.tag_positions, true)
                })
                .to_kind(Kind::Float);
            let loss = tagger.loss(&emissions, &t.tags, &t.tag_mask);
            let loss_value = f64::try_from(&loss).unwrap_or(f64::NAN);
            if !loss_value.is_finite() && cfg.precision != Precision::Fp16 {
                return Err(TrainError::Diverged {
                    loss: loss_value,
                    step: progress.global_step,
                });
            }
            let scale = if cfg.precision == Precision::Fp16 {
                scaler.scale
            } else {
                1.0
            };
            (loss * (scale / accum as f64)).backward();
            window_loss += loss_value;
            window_batches += 1;
            window_samples += batch.batch_size;
            micro += 1;
            progress.batch_in_epoch = bi + 1;
            let last_of_epoch = bi + 1 == batches.len();
            if !micro.is_multiple_of(accum) && !last_of_epoch {
                continue;
            }

            // One optimiser step.
            let apply = if cfg.precision == Precision::Fp16 {
                opt.unscale_grads(scaler.scale);
                let ok = scaler.update(opt.grads_finite());
                progress.loss_scale = scaler.scale;
                ok
            } else {
                true
            };
            let lr = cfg.learning_rate * schedule.factor(progress.global_step);
            if apply {
                opt.clip_grad_norm(cfg.max_grad_norm);
                opt.step(lr);
            }
            opt.zero_grad();
            progress.global_step += 1;
            clock(&mut progress);
            let step = progress.global_step;

            if cfg.logging_steps > 0
                && (step.is_multiple_of(cfg.logging_steps) || step == total_steps)
            {
                let elapsed = window_start.elapsed().as_secs_f64().max(1e-9);
                let done = step - steps_at_start;
                let rate = started.elapsed().as_secs_f64() / done.max(1) as f64;
                let mut eta = rate * (total_steps - step) as f64;
                if cfg.max_train_seconds > 0.0 {
                    eta = eta.min((cfg.max_train_seconds - progress.train_seconds).max(0.0));
                }
                let line = TrainLine {
                    epoch: epoch + 1,
                    step,
                    total_steps,
                    loss: window_loss / window_batches.max(1) as f64,
                    lr,
                    samples_per_s: window_samples as f64 / elapsed,
                    eta: format_duration(eta),
                };
                info!("{line}");
                if let Some(tb) = tb.as_mut() {
                    tb.scalar("train/loss", line.loss, step as i64)?;
                    tb.scalar("train/learning_rate", lr, step as i64)?;
                    tb.scalar("train/samples_per_s", line.samples_per_s, step as i64)?;
                }
                window_start = Instant::now();
                window_samples = 0;
                window_loss = 0.0;
                window_batches = 0;
            }

            let eval_now = cfg.eval_steps > 0 && step.is_multiple_of(cfg.eval_steps);
            if eval_now {
                stopped_early =
                    evaluator.run(&mut progress, epoch, tb.as_mut())? == EvalOutcome::EarlyStop;
                last_evaluated_step = Some(step);
                clock(&mut progress);
            }
            // Before the periodic checkpoint: the stop writes this step's checkpoint itself.
            if stop.load(Ordering::SeqCst) {
                return stopped(progress, &opt);
            }
            if let Some(dir) = &out.checkpoint_dir {
                if cfg.checkpoint_steps > 0
                    && step.is_multiple_of(cfg.checkpoint_steps)
                    && step < total_steps
                {
                    let path = checkpoint::save(dir, vs, &opt, &progress, cfg.keep_checkpoints)?;
                    info!("checkpoint written: {}", path.display());
                }
            }
            if stopped_early || step >= total_steps {
                break 'epochs;
            }
            if out_of_time(&progress) {
                time_budget_reached = true;
                break 'epochs;
            }
        }
        // End of epoch.
        if cfg.eval_steps == 0 && last_evaluated_step != Some(progress.global_step) {
            stopped_early =
                evaluator.run(&mut progress, epoch, tb.as_mut())? == EvalOutcome::EarlyStop;
            last_evaluated_step = Some(progress.global_step);
        }
        progress.epoch += 1;
        progress.batch_in_epoch = 0;
        if stop.load(Ordering::SeqCst) {
            return stopped(progress, &opt);
        }
    }
    if time_budget_reached {
        info!(
            "time budget reached: {:.0} s of training (max_train_seconds={}) at step {} of the {} \
             the learning-rate schedule planned",
            progress.train_seconds, cfg.max_train_seconds, progress.global_step, total_steps
        );
    }
    if validation.is_some() && last_evaluated_step != Some(progress.global_step) && !stopped_early {
        let epoch = progress.epoch_of_last_step();
        evaluator.run(&mut progress, epoch, tb.as_mut())?;
        if stop.load(Ordering::SeqCst) {
            return stopped(progress, &opt);
        }
    }
    if validation.is_none() {
        save_model(&out.model_dir, vs, spec, &out.vocab_path)?;
        info!(
            "model saved to {} (no validation data: the final weights)",
            out.model_dir.display()
        );
    }
    if stopped_early {
        info!(
            "early stopping: no better entity F1 in {} evaluations",
            cfg.early_stopping_patience
        );
    }
    clock(&mut progress);
    Ok(summary(
        Outcome::Finished,
        progress,
        resumed_from,
        time_budget_reached,
    ))
}

fn log_recovery(recovery: checkpoint::BestRecovery, dir: &std::path::Path) {
    use checkpoint::BestRecovery::*;
    match recovery {
        NoneYet => {}
        Restored { step } => info!(
            "best model so far (step {step}) restored from {}",
            dir.join(checkpoint::BEST_DIR).display()
        ),
        KeptInPlace { step } => {
            info!("best model so far (step {step}) kept in the model directory")
        }
        Lost { step } => warn!(
            "the best model so far (step {step}) is neither in {} nor in the model directory: \
             the next evaluation's model will be kept",
            dir.join(checkpoint::BEST_DIR).display()
        ),
    }
}

/// The 1-based epoch the validation record of `step` names.
fn recorded_epoch(history: &[serde_json::Value], step: usize) -> Option<usize> {
    history
        .iter()
        .find(|r| r["step"].as_u64() == Some(step as u64))
        .and_then(|r| r["epoch"].as_u64())
        .map(|e| e as usize)
}

fn summary(
    outcome: Outcome,
    p: Progress,
    resumed_from: Option<PathBuf>,
    time_budget_reached: bool,
) -> TrainSummary {
    TrainSummary {
        outcome,
        global_step: p.global_step,
        best_f1: p.best_f1,
        best_step: p.best_step,
        best_epoch: p
            .best_step
            .and_then(|step| recorded_epoch(&p.history, step)),
        last_epoch: if p.global_step == 0 {
            0
        } else {
            p.epoch_of_last_step() + 1
        },
        history: p.history,
        resumed_from,
        train_seconds: p.train_seconds,
        time_budget_reached,
    }
}

/// What an evaluation needs that stays the same for the whole run.
struct Evaluator<'a> {
    tagger: &'a NerTagger,
    vs: &'a VarStore,
    spec: &'a TaggerSpec,
    labels: &'a LabelSet,
    validation: Option<&'a EvalSet>,
    cfg: &'a TrainConfig,
    out: &'a TrainOutputs,
    stop: &'a AtomicBool,
}

/// What an evaluation tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EvalOutcome {
    Continue,
    /// Early stopping's patience ran out.
    EarlyStop,
    /// SIGTERM arrived mid-way; `Progress::pending_eval` is set so a resumed run evaluates first.
    Interrupted,
}

impl Evaluator<'_> {
    /// Scores the model on the validation set and saves it when it is the best so far.
    fn run(
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
        }) = score(tagger, labels, valid, cfg, stop)
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
            save_model(&out.model_dir, vs, spec, &out.vocab_path)?;
            if let Some(dir) = &out.checkpoint_dir {
                checkpoint::save_best(dir, &out.model_dir, step, scores.micro.f1)?;
            }
            info!(
                "new best entity F1 {:.4} at step {step}: model saved to {}",
                scores.micro.f1,
                out.model_dir.display()
            );
        } else {
            progress.evals_without_improvement += 1;
        }
        if cfg.early_stopping_patience > 0
            && progress.evals_without_improvement >= cfg.early_stopping_patience
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
pub fn score(
    tagger: &NerTagger,
    labels: &LabelSet,
    set: &EvalSet,
    cfg: &TrainConfig,
    stop: &AtomicBool,
) -> Option<Scored> {
    let settings = PredictSettings {
        device: cfg.device,
        precision: cfg.precision,
        batch_size: cfg.eval_batch_size.max(1),
        bio_constraints: cfg.bio_constraints,
        with_loss: true,
    };
    let preds = predict_unless_stopped(tagger, labels, &set.prepared, settings, stop)?;
    let gold: Vec<Vec<String>> = set.sentences.iter().map(|s| s.tags.clone()).collect();
    let entity = entity_scores(&gold, &preds.char_tags);
    let token = token_macro_scores(&gold, &preds.char_tags, labels);
    Some(Scored {
        char_tags: preds.char_tags,
        entity,
        token,
        loss: preds.mean_loss,
    })
}

fn append_jsonl(path: &std::path::Path, value: &serde_json::Value) -> Result<(), TrainError> {
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

#[cfg(test)]
mod tests {
    use super::{Outcome, TrainSummary};

    fn summary(best: Option<(Option<usize>, usize)>) -> TrainSummary {
        TrainSummary {
            outcome: Outcome::Finished,
            global_step: 30,
            best_f1: best.map(|_| 0.5),
            best_step: best.map(|(_, step)| step),
            best_epoch: best.and_then(|(epoch, _)| epoch),
            last_epoch: 3,
            history: Vec::new(),
            resumed_from: None,
            train_seconds: 1.0,
            time_budget_reached: false,
        }
    }

    #[test]
    fn the_saved_model_is_the_best_one_when_there_is_one() {
        assert_eq!(
            summary(Some((Some(2), 20))).saved_model_epoch_and_step(),
            (2, 20)
        );
        assert_eq!(summary(None).saved_model_epoch_and_step(), (3, 30));
        // No validation record names the best step's epoch: the step is still the best one's.
        assert_eq!(
            summary(Some((None, 20))).saved_model_epoch_and_step(),
            (0, 20)
        );
    }
}
