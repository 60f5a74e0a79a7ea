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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use albert_model::{AlbertConfig, TransformerConfig};
    use ner_data::pretraining::SentenceOrder;
    use ner_data::Tokenizer;

    use super::*;

    /// Documents of several sentences, and a short one, in one file.
    fn text(dir: &Path) -> Vec<PathBuf> {
        let long = "北京是中国的首都。上海是一座大城市。广州在南方。深圳在广州旁边。\n";
        let path = dir.join("corpus.txt");
        std::fs::write(&path, format!("{long}\n天津在北方。\n\n{long}{long}")).unwrap();
        vec![path]
    }

    fn data(files: Vec<PathBuf>, sentence_order: bool) -> PretrainData {
        let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
        let tokenizer = Tokenizer::from_vocab_file(&vocab, true).unwrap();
        let masking = Masking {
            rate: 0.15,
            mask_id: tokenizer.id("[MASK]").unwrap(),
            vocab_size: tokenizer.vocab_size() as i64,
            special_ids: vec![0, 100, 101, 102, 103],
            seed: 3,
            sentence_order: sentence_order.then(|| SentenceOrder {
                sentence_end_ids: vec![tokenizer.id("。").unwrap()],
                sep_id: tokenizer.sep_id(),
            }),
        };
        PretrainData {
            validation: Some(files.clone()),
            train: files,
            words: Arc::new(WholeWordTokenizer::new(tokenizer)),
            max_seq_length: 24,
            masking,
        }
    }

    #[test]
    fn with_sentence_order_a_sequence_holds_one_documents_text_and_room_for_a_separator() {
        let dir = tempfile::tempdir().unwrap();
        let files = text(dir.path());
        let sep = |d: &PretrainData| d.words.tokenizer().sep_id();
        let with = data(files.clone(), true);
        let sequences: Vec<_> = with.stream(&files).map(Result::unwrap).collect();
        assert!(sequences.len() >= 4);
        for s in &sequences {
            assert!(s.ids.len() < with.max_seq_length, "{}", s.ids.len());
            let inner_seps = s.ids[1..s.ids.len() - 1]
                .iter()
                .filter(|&&i| i == sep(&with));
            assert_eq!(inner_seps.count(), 0, "no document joined to another");
        }
        // Without it, documents are packed back to back with [SEP] between.
        let without = data(files.clone(), false);
        let packed: Vec<_> = without.stream(&files).map(Result::unwrap).collect();
        assert!(packed
            .iter()
            .any(|s| s.ids[1..s.ids.len() - 1].contains(&sep(&without))));
        assert!(packed.iter().any(|s| s.ids.len() == without.max_seq_length));
    }

    #[test]
    fn the_sentence_order_loss_trains_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let data = data(text(dir.path()), true);
        let config = TransformerConfig::Albert(AlbertConfig {
            vocab_size: data.words.tokenizer().vocab_size() as i64,
            embedding_size: 8,
            hidden_size: 16,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 32,
            ..AlbertConfig::default()
        });
        let mut vs = VarStore::new(Device::Cpu);
        let mlm = MaskedLm::with_sentence_order(&vs.root(), &config).unwrap();
        let bias = |vs: &VarStore, name: &str| vs.variables()[name].abs().sum(tch::Kind::Float);
        let names = ["albert.pooler.bias", "sop_classifier.classifier.bias"];
        for name in names {
            assert_eq!(bias(&vs, name).double_value(&[]), 0.0, "{name} starts at 0");
        }
        let cfg = PretrainConfig {
            train: TrainSettings {
                max_steps: 2,
                train_batch_size: 4,
                learning_rate: 1e-2,
                eval_steps: 0,
                logging_steps: 1,
                save_checkpoints_steps: 0,
                ..TrainSettings::default()
            },
            precision: Precision::Fp32,
            device: Device::Cpu,
        };
        let stop = AtomicBool::new(false);
        let summary = pretrain(
            &mlm,
            &mut vs,
            &data,
            &cfg,
            &PretrainOutputs::default(),
            &stop,
            Replicas::Single,
        )
        .unwrap();
        assert_eq!(summary.global_step, 2);
        let accuracy = summary.last_eval.unwrap().sentence_order_accuracy;
        assert!(
            accuracy.is_some_and(|a| (0.0..=1.0).contains(&a)),
            "{accuracy:?}"
        );
        for name in names {
            // Biases are not decayed: only the sentence-order loss's gradient moves them.
            assert!(
                bias(&vs, name).double_value(&[]) > 0.0,
                "{name} was trained"
            );
        }
    }
}
