//! Masked-language-model pre-training (`task=pretrain`) of a transformer on raw text: the same
//! optimiser, schedule, mixed precision, data parallelism, checkpoints, SIGTERM stop, time budget,
//! log lines and TensorBoard scalars as fine-tuning, over a stream of packed, whole-word-masked
//! sequences instead of tagged sentences.
//!
//! `pretrain` reads top to bottom: [`plan::PretrainPlan`] counts the text (one streaming pass, which
//! also finds bad input before any training) and holds out what evaluation scores, checkpoints are
//! resumed, and [`run::Pretraining`] trains pass by pass over the text.

mod held_out;
mod plan;
mod run;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use albert_model::MaskedLm;
use ner_data::pretraining::{Masking, PackedStream, SequenceLayout, WholeWordTokenizer};
use ner_infer::{ModelDir, Precision};
use ner_settings::TrainSettings;
use tch::nn::VarStore;
use tch::Device;

use crate::error::TrainError;
use crate::replicas::Replicas;
use crate::trainer::Outcome;

pub use held_out::MlmScores;

/// The text and how it becomes masked sequences.
pub struct PretrainData {
    /// The `training` channel's text files.
    pub train: Vec<PathBuf>,
    /// The `validation` channel's, when given: what evaluation scores (else a slice of `train`).
    pub validation: Option<Vec<PathBuf>>,
    pub words: Arc<WholeWordTokenizer>,
    /// Pieces per sequence, `[CLS]` and `[SEP]` included.
    pub max_seq_length: usize,
    pub masking: Masking,
}

impl PretrainData {
    /// The packed sequences of `files`, laid out as the masking's tasks need them (one document's
    /// text per sequence, for sentence-order prediction).
    fn stream(&self, files: &[PathBuf]) -> PackedStream {
        let layout = if self.masking.sentence_order.is_some() {
            SequenceLayout::SegmentPairs
        } else {
            SequenceLayout::Packed
        };
        PackedStream::new(
            files.to_vec(),
            self.words.clone(),
            self.max_seq_length,
            layout,
        )
    }
}

/// The optimisation settings as the hyperparameters give them, and the device and precision.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    pub train: TrainSettings,
    pub precision: Precision,
    pub device: Device,
}

/// Where results go; `None` everywhere on replicas other than rank 0.
#[derive(Debug, Clone, Default)]
pub struct PretrainOutputs {
    /// The pre-trained encoder (`*ForMaskedLM`), written at the end.
    pub model_dir: Option<ModelDir>,
    pub checkpoint_dir: Option<PathBuf>,
    pub tensorboard_dir: Option<PathBuf>,
    /// `eval_results.jsonl`: one JSON line per evaluation.
    pub eval_dir: Option<PathBuf>,
    /// vocab.txt, copied next to the saved model.
    pub vocab_path: PathBuf,
}

/// How pre-training went.
#[derive(Debug, Clone)]
pub struct PretrainSummary {
    pub outcome: Outcome,
    pub global_step: usize,
    /// Packed sequences in one pass over the training text (held-out ones excluded).
    pub sequences_per_pass: u64,
    pub held_out: usize,
    /// The last evaluation, when there was something to evaluate on.
    pub last_eval: Option<MlmScores>,
    pub history: Vec<serde_json::Value>,
    pub resumed_from: Option<PathBuf>,
    pub train_seconds: f64,
    pub time_budget_reached: bool,
}

/// Pre-trains `mlm` (whose variables live in `vs`) on `data`. With [`Replicas::Group`], every rank
/// calls this with the same data and settings; `train_batch_size` is then the batch per replica.
pub fn pretrain(
    mlm: &MaskedLm,
    vs: &mut VarStore,
    data: &PretrainData,
    cfg: &PretrainConfig,
    out: &PretrainOutputs,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<PretrainSummary, TrainError> {
    let Some(plan) = plan::PretrainPlan::new(data, cfg, replicas.world_size(), stop)? else {
        return Ok(PretrainSummary::stopped_before_training());
    };
    run::Pretraining::start(mlm, vs, data, cfg, out, &plan, stop, replicas)?.train()
}

impl PretrainSummary {
    fn stopped_before_training() -> Self {
        PretrainSummary {
            outcome: Outcome::Stopped { checkpoint: None },
            global_step: 0,
            sequences_per_pass: 0,
            held_out: 0,
            last_eval: None,
            history: Vec::new(),
            resumed_from: None,
            train_seconds: 0.0,
            time_budget_reached: false,
        }
    }
}
