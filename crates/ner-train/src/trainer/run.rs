//! One training run, epoch by epoch: a micro-batch's forward and backward (`accumulate`), an optimiser
//! update (`update`), and what follows each update (`after_step`). Every way a run can end is an
//! [`End`], and [`Run::finish`] turns it into the summary.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ner_data::collate;
use tch::Kind;
use tracing::info;

use super::evaluator::EvalOutcome;
use super::plan::Plan;
use super::summary::summary;
use super::train_log::{LogWindow, StepPoint};
use super::{Outcome, RunContext, TrainSummary};
use crate::adamw::AdamW;
use crate::amp::LossScaler;
use crate::checkpoint::{self, Progress};
use crate::clock::Clock;
use crate::error::TrainError;
use crate::replicas::Replicas;
use crate::tensorboard::EventWriter;
use ner_infer::BatchTensors;
use ner_infer::Precision;
use ner_infer::Prepared;

/// Why the training loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The planned number of optimiser steps is done.
    Steps,
    /// Early stopping's patience ran out.
    EarlyStop,
    /// `max_train_seconds` is used up.
    TimeBudget,
    /// SIGTERM: write a checkpoint and stop.
    Signal,
}

/// The state of a run in progress.
pub(super) struct Run<'a> {
    ctx: RunContext<'a>,
    train: &'a Prepared,
    plan: &'a Plan,
    opt: AdamW,
    scaler: LossScaler,
    tb: Option<EventWriter>,
    progress: Progress,
    resumed_from: Option<PathBuf>,
    clock: Clock,
    window: LogWindow,
    last_evaluated_step: Option<usize>,
}

impl<'a> Run<'a> {
    pub fn new(
        ctx: RunContext<'a>,
        train: &'a Prepared,
        plan: &'a Plan,
        opt: AdamW,
        mut progress: Progress,
        resumed_from: Option<PathBuf>,
    ) -> Result<Self, TrainError> {
        progress.world_size = plan.world_size;
        let tb = match &ctx.out.tensorboard_dir {
            Some(d) => Some(EventWriter::create(d)?),
            None => None,
        };
        let clock = Clock::start(&progress, ctx.cfg.train.max_train_seconds);
        let scaler = LossScaler::for_precision(ctx.cfg.precision, progress.loss_scale);
        Ok(Self {
            ctx,
            train,
            plan,
            opt,
            scaler,
            tb,
            clock,
            progress,
            resumed_from,
            window: LogWindow::new(),
            last_evaluated_step: None,
        })
    }

    /// Trains to the end (or the stop) and summarises.
    pub fn train(mut self) -> Result<TrainSummary, TrainError> {
        let mut end = self.evaluate_owed()?;
        if end.is_none() && self.out_of_time() {
            end = Some(End::TimeBudget);
        }
        self.window = LogWindow::new();
        while end.is_none() {
            if self.progress.global_step >= self.plan.total_steps {
                end = Some(End::Steps);
                break;
            }
            end = self.epoch()?;
        }
        self.finish(end.unwrap_or(End::Steps))
    }

    /// The evaluation a SIGTERM interrupted before the checkpoint this run resumed.
    fn evaluate_owed(&mut self) -> Result<Option<End>, TrainError> {
        if !self.progress.pending_eval {
            return Ok(None);
        }
        info!(
            "evaluating step {} first: its evaluation was interrupted",
            self.progress.global_step
        );
        let epoch = self.progress.epoch_of_last_step();
        Ok(match self.evaluate(epoch)? {
            EvalOutcome::Interrupted => Some(End::Signal),
            EvalOutcome::EarlyStop => Some(End::EarlyStop),
            EvalOutcome::Continue => None,
        })
    }

    /// The rest of the current epoch; `Some` when the run ends inside it.
    fn epoch(&mut self) -> Result<Option<End>, TrainError> {
        let epoch = self.progress.epoch;
        let batches = self
            .plan
            .batcher
            .epoch(self.ctx.cfg.train.seed, epoch as u64);
        let mut micro = 0usize;
        for (bi, indices) in batches
            .iter()
            .enumerate()
            .skip(self.progress.batch_in_epoch)
        {
            self.accumulate(epoch, bi, indices)?;
            micro += 1;
            self.progress.batch_in_epoch = bi + 1;
            let last_of_epoch = bi + 1 == batches.len();
            if !micro.is_multiple_of(self.plan.accumulation) && !last_of_epoch {
                continue;
            }
            let lr = self.update()?;
            if let Some(end) = self.after_step(epoch, lr)? {
                return Ok(Some(end));
            }
        }
        // With `eval_steps` 0, the evaluation at the end of each epoch.
        let due = self.ctx.cfg.train.eval_steps == 0
            && self.last_evaluated_step != Some(self.progress.global_step);
        let end =
            (due && self.evaluate(epoch)? == EvalOutcome::EarlyStop).then_some(End::EarlyStop);
        self.progress.epoch += 1;
        self.progress.batch_in_epoch = 0;
        if self.stop_requested()? {
            return Ok(Some(End::Signal));
        }
        Ok(end)
    }

    /// Forward and backward of this replica's shard of one global micro-batch; gradients add up until
    /// [`Run::update`]. The loss is weighted by the shard's share of the global batch, so that the
    /// replicas' summed gradients are the global batch's.
    fn accumulate(&mut self, epoch: usize, bi: usize, global: &[usize]) -> Result<(), TrainError> {
        let cfg = self.ctx.cfg;
        let replicas = self.ctx.replicas;
        let indices = replicas.shard(global);
        self.window.record_samples(global.len());
        if indices.is_empty() {
            return Ok(());
        }
        let share = Replicas::share(indices.len(), global.len());
        let batch = &collate(&self.train.features, indices);
        // Dropout noise is a function of (seed, epoch, batch, rank): a resumed run sees the same masks.
        let rank = replicas.rank() as i64;
        tch::manual_seed(
            (cfg.train.seed as i64) ^ ((epoch as i64) << 32) ^ bi as i64 ^ (rank << 48),
        );
        let t = BatchTensors::new(batch, cfg.device);
        let emissions = cfg
            .precision
            .autocast(|| {
                self.ctx
                    .tagger
                    .emissions(&t.input_ids, &t.attention_mask, &t.tag_positions, true)
            })
            .to_kind(Kind::Float);
        let loss = self.ctx.tagger.loss(&emissions, &t.tags, &t.tag_mask);
        let loss_value = f64::try_from(&loss).unwrap_or(f64::NAN);
        if !loss_value.is_finite() && cfg.precision != Precision::Fp16 {
            return Err(TrainError::Diverged {
                loss: loss_value,
                step: self.progress.global_step,
            });
        }
        (loss * (share * self.scaler.factor() / self.plan.accumulation as f64)).backward();
        self.window.record_loss(loss_value * share);
        Ok(())
    }

    /// The fp16 loss scale, 1 otherwise.
    /// One optimiser update from the accumulated gradients, summed over the replicas (skipped on an
    /// fp16 overflow); returns the learning rate it used.
    fn update(&mut self) -> Result<f64, TrainError> {
        let reducing = Instant::now();
        self.ctx.replicas.reduce_grads(&mut self.opt)?;
        self.window
            .record_allreduce(reducing.elapsed().as_secs_f64());
        let apply = self.scaler.unscale(&mut self.opt);
        self.progress.loss_scale = self.scaler.scale;
        let lr =
            self.ctx.cfg.train.learning_rate * self.plan.schedule.factor(self.progress.global_step);
        if apply {
            self.opt.clip_grad_norm(self.ctx.cfg.train.max_grad_norm);
            self.opt.step(lr);
        }
        self.opt.zero_grad();
        self.progress.global_step += 1;
        self.clock.update(&mut self.progress);
        Ok(lr)
    }

    /// Logging, evaluation, the stop request and checkpoints after an update; `Some` when the run
    /// ends here.
    fn after_step(&mut self, epoch: usize, lr: f64) -> Result<Option<End>, TrainError> {
        let step = self.progress.global_step;
        let point = StepPoint {
            epoch,
            step,
            total_steps: self.plan.total_steps,
            lr,
            eta_seconds: self.eta_seconds(),
        };
        self.window.maybe_log(
            &point,
            self.ctx.cfg.train.logging_steps,
            self.ctx.replicas,
            self.tb.as_mut(),
        )?;
        let mut early_stop = false;
        if self.ctx.cfg.train.eval_steps > 0 && step.is_multiple_of(self.ctx.cfg.train.eval_steps) {
            early_stop = self.evaluate(epoch)? == EvalOutcome::EarlyStop;
            self.clock.update(&mut self.progress);
        }
        // One agreement per step, so every replica leaves at the same step.
        let [stop, out_of_time] = self.agree([self.stop_local(), self.out_of_time()])?;
        // Before the periodic checkpoint: the stop writes this step's checkpoint itself.
        if stop {
            return Ok(Some(End::Signal));
        }
        self.maybe_checkpoint()?;
        Ok(if early_stop {
            Some(End::EarlyStop)
        } else if step >= self.plan.total_steps {
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

    fn stop_local(&self) -> bool {
        self.ctx.stop.load(Ordering::SeqCst)
    }

    /// SIGTERM seen by any replica.
    fn stop_requested(&self) -> Result<bool, TrainError> {
        self.ctx.replicas.any(self.stop_local())
    }

    /// Each flag, true on every replica when it is true on any.
    fn agree<const N: usize>(&self, flags: [bool; N]) -> Result<[bool; N], TrainError> {
        self.ctx.replicas.any_of(flags)
    }

    fn out_of_time(&self) -> bool {
        self.clock.out_of_time(&self.progress)
    }

    fn evaluate(&mut self, epoch: usize) -> Result<EvalOutcome, TrainError> {
        let outcome = self
            .ctx
            .evaluate(&mut self.progress, epoch, self.tb.as_mut())?;
        self.last_evaluated_step = Some(self.progress.global_step);
        Ok(outcome)
    }

    /// The periodic checkpoint every `checkpoint_steps` updates (none at the last step: the model is
    /// saved instead).
    fn maybe_checkpoint(&mut self) -> Result<(), TrainError> {
        let (Some(dir), every) = (
            &self.ctx.out.checkpoint_dir,
            self.ctx.cfg.train.save_checkpoints_steps,
        ) else {
            return Ok(());
        };
        let step = self.progress.global_step;
        if every > 0 && step.is_multiple_of(every) && step < self.plan.total_steps {
            let path = checkpoint::save(
                dir,
                self.ctx.vs,
                &self.opt,
                &self.progress,
                self.ctx.cfg.train.keep_checkpoints,
            )?;
            info!("checkpoint written: {}", path.display());
        }
        Ok(())
    }

    /// The closing evaluation and save, or the SIGTERM checkpoint, then the summary.
    fn finish(mut self, end: End) -> Result<TrainSummary, TrainError> {
        if end == End::Signal {
            return self.stopped();
        }
        if end == End::TimeBudget {
            info!(
                "time budget reached: {:.0} s of training (max_train_seconds={}) at step {} of the {} \
                 the learning-rate schedule planned",
                self.progress.train_seconds,
                self.ctx.cfg.train.max_train_seconds,
                self.progress.global_step,
                self.plan.total_steps
            );
        }
        let validating = self.ctx.validation.is_some();
        if validating
            && self.last_evaluated_step != Some(self.progress.global_step)
            && end != End::EarlyStop
        {
            let epoch = self.progress.epoch_of_last_step();
            self.evaluate(epoch)?;
            if self.stop_requested()? {
                return self.stopped();
            }
        }
        if !validating {
            if let Some(dir) = self.ctx.out.save_model(self.ctx.vs, self.ctx.spec)? {
                info!(
                    "model saved to {} (no validation data: the final weights)",
                    dir.path().display()
                );
            }
        }
        if end == End::EarlyStop {
            info!(
                "early stopping: no better entity F1 in {} evaluations",
                self.ctx.cfg.train.early_stopping_patience
            );
        }
        self.clock.update(&mut self.progress);
        Ok(summary(
            Outcome::Finished,
            self.progress,
            self.resumed_from,
            end == End::TimeBudget,
        ))
    }

    /// The SIGTERM exit, wherever it is noticed: a checkpoint of `progress` (which records an
    /// interrupted evaluation as owed), then the summary.
    fn stopped(mut self) -> Result<TrainSummary, TrainError> {
        self.clock.update(&mut self.progress);
        let checkpoint = match &self.ctx.out.checkpoint_dir {
            Some(dir) => Some(checkpoint::save(
                dir,
                self.ctx.vs,
                &self.opt,
                &self.progress,
                self.ctx.cfg.train.keep_checkpoints,
            )?),
            None => None,
        };
        Ok(summary(
            Outcome::Stopped { checkpoint },
            self.progress,
            self.resumed_from,
            false,
        ))
    }
}
