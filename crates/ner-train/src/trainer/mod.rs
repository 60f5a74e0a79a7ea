//! The fine-tuning loop: bucketed batches, AdamW with a separate head learning rate, warm-up and decay,
//! gradient accumulation and clipping, mixed precision, evaluation, best-model keeping, early stopping,
//! resumable checkpoints, a time budget and a cooperative stop (SIGTERM) at step boundaries or
//! mid-evaluation.
//!
//! `fit` reads top to bottom: [`plan::Plan`] fixes the step count and schedule, [`resume`] restores a
//! checkpoint, and [`run::Run`] trains epoch by epoch: one micro-batch (`accumulate`), one optimiser
//! update (`update`), then what follows a step (`after_step`: log, evaluate, stop, checkpoint, end).
//! Validation lives in [`evaluator`], the closing summary in [`summary`].

mod evaluator;
mod plan;
mod resume;
mod run;
mod summary;
mod train_log;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use albert_model::{NerTagger, TaggerSpec};
use ner_data::{LabelSet, Sentence};
use tch::nn::VarStore;
use tch::Device;

use crate::adamw::{AdamW, PartRates};
use crate::error::TrainError;
use crate::replicas::Replicas;
use ner_infer::{ModelDir, Precision, Prepared};
use ner_settings::TrainSettings;
use plan::Plan;
use run::Run;

pub(crate) use evaluator::append_jsonl;
pub use evaluator::{score, Scored};
pub(crate) use train_log::{LogWindow, StepPoint};

/// What a run needs beyond the data: the optimisation settings as the hyperparameters give them, and
/// what the job decided about decoding, precision and device.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub train: TrainSettings,
    /// Keep BIO-invalid transitions out of evaluation's decoded paths (as tagging will).
    pub bio_constraints: bool,
    pub precision: Precision,
    pub device: Device,
}

/// Where results go. A replica other than rank 0 writes nothing: every directory is `None`.
#[derive(Debug, Clone)]
pub struct TrainOutputs {
    /// Best model by validation F1 (or the final one without validation data).
    pub model_dir: Option<ModelDir>,
    /// Resumable checkpoints; `None` disables them.
    pub checkpoint_dir: Option<PathBuf>,
    pub tensorboard_dir: Option<PathBuf>,
    /// `eval_results.jsonl`: one JSON line per evaluation.
    pub eval_dir: Option<PathBuf>,
    /// vocab.txt copied next to the saved model.
    pub vocab_path: PathBuf,
}

impl TrainOutputs {
    /// Nothing written: what every replica but rank 0 gets.
    pub fn nowhere() -> Self {
        Self {
            model_dir: None,
            checkpoint_dir: None,
            tensorboard_dir: None,
            eval_dir: None,
            vocab_path: PathBuf::new(),
        }
    }

    /// Saves the model where this replica keeps it; returns the directory, `None` when it keeps none.
    pub(crate) fn save_model(
        &self,
        vs: &VarStore,
        spec: &TaggerSpec,
    ) -> Result<Option<&ModelDir>, TrainError> {
        let Some(dir) = &self.model_dir else {
            return Ok(None);
        };
        dir.write_tagger(vs, spec, &self.vocab_path)?;
        Ok(Some(dir))
    }
}

/// What stays the same for the whole run.
pub(super) struct RunContext<'a> {
    tagger: &'a NerTagger,
    vs: &'a VarStore,
    spec: &'a TaggerSpec,
    labels: &'a LabelSet,
    validation: Option<&'a EvalSet>,
    cfg: &'a TrainConfig,
    out: &'a TrainOutputs,
    stop: &'a AtomicBool,
    replicas: Replicas<'a>,
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

/// Trains `tagger` (whose variables live in `vs`) on `train`, selecting on `validation`. With
/// [`Replicas::Group`], every rank calls this with the same data and settings; `cfg.train.train_batch_size`
/// is then the batch per replica, and the global batch is that × the world size.
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
    replicas: Replicas,
) -> Result<TrainSummary, TrainError> {
    if train.features.is_empty() {
        return Err(TrainError::Config("no training sentences".into()));
    }
    let plan = Plan::new(train, cfg, replicas.world_size());
    let rates = PartRates {
        lstm: cfg.train.lstm_learning_rate_multiplier,
        head: cfg.train.crf_learning_rate_multiplier,
    };
    let mut opt = AdamW::for_tagger(vs, rates, cfg.train.weight_decay);
    let (mut progress, resumed_from) = resume::from_checkpoints(out, vs, &mut opt, &plan)?;
    replicas.sync_start(vs, &mut opt, &mut progress)?;
    plan.log_start(train, cfg);
    let ctx = RunContext {
        tagger,
        vs,
        spec,
        labels,
        validation,
        cfg,
        out,
        stop,
        replicas,
    };
    Run::new(ctx, train, &plan, opt, progress, resumed_from)?.train()
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
