//! The pre-training loop: passes over the text, each a fresh stream (shuffled within a buffer, seeded
//! by the pass) whose global micro-batches the replicas share; an optimiser update every
//! `gradient_accumulation_steps` of them; then logging, evaluation, the stop, the time budget and
//! checkpoints. A resumed run replays its pass's stream to the sequence it stopped at: the order and
//! every mask are functions of the seed and the sequence's place, so it trains on what an
//! uninterrupted run would have.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use albert_model::MaskedLm;
use ner_data::pretraining::{collate_masked, MaskedSequence, PackedSequence, Shuffled, IGNORED};
use ner_infer::Precision;
use serde_json::json;
use tch::nn::VarStore;
use tracing::info;

use super::held_out::{BatchTensors, MlmScores};
use super::plan::PretrainPlan;
use super::{PretrainConfig, PretrainData, PretrainOutputs, PretrainSummary};
use crate::adamw::{AdamW, PartRates};
use crate::amp::LossScaler;
use crate::checkpoint::{self, Progress};
use crate::clock::Clock;
use crate::error::TrainError;
use crate::log_line::MlmEvalLine;
use crate::replicas::Replicas;
use crate::tensorboard::EventWriter;
use crate::trainer::{LogWindow, Outcome, StepPoint};

/// Packed sequences a pass draws its order from.
const SHUFFLE_BUFFER: usize = 10_000;

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Steps,
    TimeBudget,
    Signal,
}

/// A pre-training run in progress. `progress.batch_in_epoch` counts the sequences of the current
/// pass already trained on (whatever the number of replicas).
pub(super) struct Pretraining<'a> {
    mlm: &'a MaskedLm,
    vs: &'a VarStore,
    data: &'a PretrainData,
    cfg: &'a PretrainConfig,
    out: &'a PretrainOutputs,
    plan: &'a PretrainPlan,
    stop: &'a AtomicBool,
    replicas: Replicas<'a>,
    opt: AdamW,
    scaler: LossScaler,
    tb: Option<EventWriter>,
    progress: Progress,
    resumed_from: Option<PathBuf>,
    clock: Clock,
    window: LogWindow,
    last_eval: Option<(usize, MlmScores)>,
}

impl<'a> Pretraining<'a> {
    /// The optimiser over every variable (one learning rate: encoder and head are both pre-trained),
    /// the newest loadable checkpoint resumed, and rank 0's state on every replica.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        mlm: &'a MaskedLm,
        vs: &'a mut VarStore,
        data: &'a PretrainData,
        cfg: &'a PretrainConfig,
        out: &'a PretrainOutputs,
        plan: &'a PretrainPlan,
        stop: &'a AtomicBool,
        replicas: Replicas<'a>,
    ) -> Result<Self, TrainError> {
        let rates = PartRates {
            lstm: 1.0,
            head: 1.0,
        };
        let mut opt = AdamW::for_tagger(vs, rates, cfg.train.weight_decay);
        let mut progress = Progress::fresh();
        let mut resumed_from = None;
        if let Some(dir) = &out.checkpoint_dir {
            if let Some((p, path)) = checkpoint::resume_newest(dir, vs, &mut opt)? {
                info!(
                    "resuming from checkpoint {} (step {}, pass {}, {} of its {} sequences done)",
                    path.display(),
                    p.global_step,
                    p.epoch + 1,
                    p.batch_in_epoch,
                    plan.sequences_per_pass
                );
                progress = p;
                resumed_from = Some(path);
            }
        }
        replicas.sync_start(vs, &mut opt, &mut progress)?;
        progress.world_size = plan.world_size;
        info!(
            "pre-training: {} steps of {} sequences ({} per replica x {} replicas x {} accumulated), \
             {} sequences per pass",
            plan.total_steps,
            plan.global_micro_batch * plan.accumulation,
            cfg.train.train_batch_size,
            plan.world_size,
            plan.accumulation,
            plan.sequences_per_pass
        );
        let tb = match &out.tensorboard_dir {
            Some(d) => Some(EventWriter::create(d)?),
            None => None,
        };
        Ok(Pretraining {
            mlm,
            vs,
            data,
            cfg,
            out,
            plan,
            stop,
            replicas,
            opt,
            scaler: LossScaler::for_precision(cfg.precision, progress.loss_scale),
            tb,
            clock: Clock::start(&progress, cfg.train.max_train_seconds),
            progress,
            resumed_from,
            window: LogWindow::new(),
            last_eval: None,
        })
    }

    /// Trains to the end (or the stop) and summarises.
    pub fn train(mut self) -> Result<PretrainSummary, TrainError> {
        let mut end = self.out_of_time().then_some(End::TimeBudget);
        while end.is_none() {
            if self.progress.global_step >= self.plan.total_steps {
                end = Some(End::Steps);
                break;
            }
            end = self.pass()?;
        }
        self.finish(end.unwrap_or(End::Steps))
    }

    /// The training sequences of the current pass, in its order, with their place in it (the held-out
    /// ones left out). A data error ends it as an `Err` item.
    fn pass_stream(&self) -> Result<impl Iterator<Item = (u64, PackedItem)>, TrainError> {
        let pass = self.progress.epoch as u64;
        let mut stream = self.data.stream(&self.data.train);
        for held_out in stream.by_ref().take(self.plan.held_out_of_train as usize) {
            held_out?;
        }
        let seed = self.cfg.train.seed ^ pass.wrapping_mul(0xA076_1D64_78BD_642F);
        Ok(Shuffled::new(stream, SHUFFLE_BUFFER, seed)
            .enumerate()
            .map(|(i, s)| (i as u64, s)))
    }

    /// The rest of the current pass; `Some` when the run ends inside it.
    fn pass(&mut self) -> Result<Option<End>, TrainError> {
        let pass = self.progress.epoch as u64;
        let done = self.progress.batch_in_epoch;
        if done > 0 {
            info!("replaying pass {} to sequence {done}", pass + 1);
        }
        let mut stream = self.pass_stream()?.peekable();
        for (_, replayed) in stream.by_ref().take(done) {
            replayed?;
        }
        if stream.peek().is_none() {
            // Never a pass without a step: the text changed under a resumed run, or was read short.
            return Err(TrainError::Config(format!(
                "pass {} of the training text has no sequence after the {done} already trained on \
                 (the plan counted {}): did the training data change since the checkpoint?",
                pass + 1,
                self.plan.sequences_per_pass
            )));
        }
        let mut micro = 0usize;
        loop {
            let mut global = Vec::with_capacity(self.plan.global_micro_batch);
            for (i, packed) in stream.by_ref().take(self.plan.global_micro_batch) {
                global.push((i, packed?));
            }
            if global.is_empty() {
                break;
            }
            let index_base = pass * self.plan.sequences_per_pass.max(1);
            let indexed: Vec<(u64, &PackedSequence)> =
                global.iter().map(|(i, s)| (index_base + i, s)).collect();
            self.accumulate(&indexed)?;
            micro += 1;
            self.progress.batch_in_epoch += global.len();
            let last_of_pass = stream.peek().is_none();
            if !micro.is_multiple_of(self.plan.accumulation) && !last_of_pass {
                continue;
            }
            let lr = self.update()?;
            if let Some(end) = self.after_step(lr)? {
                return Ok(Some(end));
            }
        }
        let due = self.cfg.train.eval_steps == 0
            && self.last_eval.map(|(s, _)| s) != Some(self.progress.global_step);
        if due {
            self.evaluate()?;
        }
        self.progress.epoch += 1;
        self.progress.batch_in_epoch = 0;
        if self.replicas.any(self.stop.load(Ordering::SeqCst))? {
            return Ok(Some(End::Signal));
        }
        Ok(None)
    }

    /// Forward and backward of this replica's shard of a global micro-batch (`(masking index,
    /// sequence)` pairs). The MLM loss is weighted by the shard's share of the batch's predicted
    /// pieces (the sentence-order loss by its share of the segment pairs), so the replicas' summed
    /// gradients are those of the whole batch's mean loss (every replica masks the whole batch to
    /// count them: masking is cheap beside the forward pass).
    fn accumulate(&mut self, global: &[(u64, &PackedSequence)]) -> Result<(), TrainError> {
        let masked: Vec<MaskedSequence> = global
            .iter()
            .map(|(index, packed)| self.data.masking.mask(packed, *index))
            .collect();
        let predicted = |s: &[MaskedSequence]| -> usize {
            s.iter()
                .map(|m| m.labels.iter().filter(|&&l| l != IGNORED).count())
                .sum()
        };
        let pairs = |s: &[MaskedSequence]| -> usize {
            s.iter()
                .filter(|m| m.sentence_order_label != IGNORED)
                .count()
        };
        let all: Vec<usize> = (0..global.len()).collect();
        let mine = self.replicas.shard(&all);
        self.window.record_samples(global.len());
        if mine.is_empty() {
            return Ok(());
        }
        let sequences = &masked[mine[0]..mine[0] + mine.len()];
        let share = Replicas::share(predicted(sequences), predicted(&masked).max(1));
        let pair_share = Replicas::share(pairs(sequences), pairs(&masked).max(1));
        let b = BatchTensors::new(
            &collate_masked(sequences, self.data.words.tokenizer().pad_id()),
            self.cfg.device,
        );
        // Dropout noise is a function of (seed, the batch's first sequence, rank).
        let rank = self.replicas.rank() as i64;
        tch::manual_seed((self.cfg.train.seed as i64) ^ (global[0].0 as i64) ^ (rank << 48));
        let out = self
            .cfg
            .precision
            .autocast(|| self.mlm.forward(&b.as_batch(self.mlm), true));
        let mut loss = out.loss * share;
        if let Some(order) = out.sentence_order {
            loss += order.loss * pair_share;
        }
        let loss_value = loss.double_value(&[]);
        if !loss_value.is_finite() && self.cfg.precision != Precision::Fp16 {
            return Err(TrainError::Diverged {
                loss: loss_value,
                step: self.progress.global_step,
            });
        }
        (loss * (self.scaler.factor() / self.plan.accumulation as f64)).backward();
        self.window.record_loss(loss_value);
        Ok(())
    }

    /// One optimiser update from the gradients summed over the replicas; the learning rate it used.
    fn update(&mut self) -> Result<f64, TrainError> {
        let reducing = Instant::now();
        self.replicas.reduce_grads(&mut self.opt)?;
        self.window
            .record_allreduce(reducing.elapsed().as_secs_f64());
        let apply = self.scaler.unscale(&mut self.opt);
        self.progress.loss_scale = self.scaler.scale;
        let lr =
            self.cfg.train.learning_rate * self.plan.schedule.factor(self.progress.global_step);
        if apply {
            self.opt.clip_grad_norm(self.cfg.train.max_grad_norm);
            self.opt.step(lr);
        }
        self.opt.zero_grad();
        self.progress.global_step += 1;
        self.clock.update(&mut self.progress);
        Ok(lr)
    }

    /// Logging, evaluation, the stop and checkpoints after an update; `Some` when the run ends here.
    fn after_step(&mut self, lr: f64) -> Result<Option<End>, TrainError> {
        let step = self.progress.global_step;
        let point = StepPoint {
            epoch: self.progress.epoch,
            step,
            total_steps: self.plan.total_steps,
            lr,
            eta_seconds: self.eta_seconds(),
        };
        let logging = self.cfg.train.logging_steps;
        self.window
            .maybe_log(&point, logging, self.replicas, self.tb.as_mut())?;
        let every = self.cfg.train.eval_steps;
        if every > 0 && step.is_multiple_of(every) {
            self.evaluate()?;
        }
        let [stop, out_of_time] = self
            .replicas
            .any_of([self.stop.load(Ordering::SeqCst), self.out_of_time()])?;
        if stop {
            return Ok(Some(End::Signal));
        }
        self.maybe_checkpoint()?;
        Ok(if step >= self.plan.total_steps {
            Some(End::Steps)
        } else if out_of_time {
            Some(End::TimeBudget)
        } else {
            None
        })
    }

    fn eta_seconds(&self) -> f64 {
        self.clock
            .eta_seconds(&self.progress, self.plan.total_steps)
    }

    fn out_of_time(&self) -> bool {
        self.clock.out_of_time(&self.progress)
    }

    /// Scores the held-out sequences: the `pretrain_eval:` line, scalars, a record in the history and
    /// `eval_results.jsonl`.
    fn evaluate(&mut self) -> Result<(), TrainError> {
        let step = self.progress.global_step;
        let Some(scores) =
            self.plan
                .held_out
                .evaluate(self.mlm, self.cfg.train.eval_batch_size, self.cfg.device)
        else {
            return Ok(());
        };
        self.last_eval = Some((step, scores));
        let line = MlmEvalLine {
            epoch: self.progress.epoch + 1,
            step,
            loss: scores.loss,
            accuracy: scores.accuracy,
            perplexity: scores.perplexity,
            sentence_order_accuracy: scores.sentence_order_accuracy,
        };
        info!("{line}");
        if let Some(tb) = self.tb.as_mut() {
            tb.scalar("eval/loss", scores.loss, step as i64)?;
            tb.scalar("eval/perplexity", scores.perplexity, step as i64)?;
            tb.scalar("eval/mlm_accuracy", scores.accuracy, step as i64)?;
            if let Some(a) = scores.sentence_order_accuracy {
                tb.scalar("eval/sop_accuracy", a, step as i64)?;
            }
        }
        let mut record = json!({
            "epoch": self.progress.epoch + 1, "step": step, "loss": scores.loss,
            "perplexity": scores.perplexity, "mlm_accuracy": scores.accuracy,
            "predicted": scores.predicted,
        });
        if let Some(a) = scores.sentence_order_accuracy {
            record["sop_accuracy"] = json!(a);
        }
        if let Some(dir) = &self.out.eval_dir {
            crate::trainer::append_jsonl(&dir.join("eval_results.jsonl"), &record)?;
        }
        self.progress.history.push(record);
        Ok(())
    }

    fn maybe_checkpoint(&mut self) -> Result<(), TrainError> {
        let (Some(dir), every) = (
            &self.out.checkpoint_dir,
            self.cfg.train.save_checkpoints_steps,
        ) else {
            return Ok(());
        };
        let step = self.progress.global_step;
        if every > 0 && step.is_multiple_of(every) && step < self.plan.total_steps {
            let keep = self.cfg.train.keep_checkpoints;
            let path = checkpoint::save(dir, self.vs, &self.opt, &self.progress, keep)?;
            info!("checkpoint written: {}", path.display());
        }
        Ok(())
    }

    /// The closing evaluation and the saved model, or the SIGTERM checkpoint; then the summary.
    fn finish(mut self, end: End) -> Result<PretrainSummary, TrainError> {
        self.clock.update(&mut self.progress);
        let outcome = if end == End::Signal {
            let checkpoint = match &self.out.checkpoint_dir {
                Some(dir) => {
                    let keep = self.cfg.train.keep_checkpoints;
                    Some(checkpoint::save(
                        dir,
                        self.vs,
                        &self.opt,
                        &self.progress,
                        keep,
                    )?)
                }
                None => None,
            };
            Outcome::Stopped { checkpoint }
        } else {
            if end == End::TimeBudget {
                info!(
                    "time budget reached: {:.0} s of pre-training (max_train_seconds={}) at step {} of {}",
                    self.progress.train_seconds,
                    self.cfg.train.max_train_seconds,
                    self.progress.global_step,
                    self.plan.total_steps
                );
            }
            if self.last_eval.map(|(s, _)| s) != Some(self.progress.global_step) {
                self.evaluate()?;
            }
            if let Some(dir) = &self.out.model_dir {
                dir.write_masked_lm(self.vs, self.mlm, &self.out.vocab_path)?;
            }
            Outcome::Finished
        };
        Ok(PretrainSummary {
            outcome,
            global_step: self.progress.global_step,
            sequences_per_pass: self.plan.sequences_per_pass,
            held_out: self.plan.held_out.len(),
            last_eval: self.last_eval.map(|(_, s)| s),
            history: self.progress.history,
            resumed_from: self.resumed_from,
            train_seconds: self.progress.train_seconds,
            time_budget_reached: end == End::TimeBudget,
        })
    }
}

/// A packed sequence of the pass's stream, or the error that ends it.
type PackedItem = Result<PackedSequence, ner_data::DataError>;
