//! A micro ALBERT+CRF and a few tagged sentences, small enough to train in a test.
#![allow(dead_code)] // each test binary uses part of this module

use std::path::Path;
use std::sync::atomic::AtomicBool;

use albert_model::{AlbertConfig, EncoderSpec, Head, NerTagger, TaggerSpec};
use ner_data::{LabelSet, Sentence, Tokenizer};
use ner_infer::Prepared;
use ner_settings::TrainSettings;
use ner_train::{fit, EvalSet, Precision, Replicas, TrainConfig, TrainOutputs, TrainSummary};
use tch::nn::VarStore;
use tch::Device;

const MICRO: &str = r#"{"hidden_size": 32, "embedding_size": 16, "intermediate_size": 64,
  "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 21128,
  "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02}"#;

fn sentences(n: usize) -> Vec<Sentence> {
    let text = ["张三在北京工作", "李四去上海", "王五是中国人"];
    let tags = [
        "B-PER I-PER O B-LOC I-LOC O O",
        "B-PER I-PER O B-LOC I-LOC",
        "B-PER I-PER O B-LOC I-LOC O",
    ];
    (0..n)
        .map(|i| Sentence {
            chars: text[i % 3].chars().collect(),
            tags: tags[i % 3].split(' ').map(str::to_string).collect(),
            line: i + 1,
            tokens: Vec::new(),
        })
        .collect()
}

pub struct Setup {
    pub spec: TaggerSpec,
    pub labels: LabelSet,
    pub train: Prepared,
    pub valid: EvalSet,
    pub cfg: TrainConfig,
}

/// Three optimiser steps of batch 4, evaluated after each, no periodic checkpoints.
pub fn setup() -> Setup {
    setup_with(12)
}

/// [`setup`] with `train_sentences` training sentences.
pub fn setup_with(train_sentences: usize) -> Setup {
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
    let tokenizer = Tokenizer::from_vocab_file(&vocab, true).unwrap();
    let train_sentences = sentences(train_sentences);
    let labels = LabelSet::from_sentences(&train_sentences);
    let prepare = |s: &[Sentence]| Prepared::new(s, &tokenizer, &labels, 32, 8).unwrap();
    let train = prepare(&train_sentences);
    let valid_sentences = sentences(6);
    let valid = EvalSet {
        prepared: prepare(&valid_sentences),
        sentences: valid_sentences,
    };
    let spec = TaggerSpec {
        encoder: EncoderSpec::Albert(AlbertConfig::from_json_str_detect(MICRO, None).unwrap()),
        labels: labels.labels().to_vec(),
        head: Head::Crf,
    };
    let cfg = TrainConfig {
        train: TrainSettings {
            num_train_epochs: 1.0,
            max_steps: 3,
            max_train_seconds: 0.0,
            train_batch_size: 4,
            eval_batch_size: 2,
            learning_rate: 1e-3,
            crf_learning_rate_multiplier: 10.0,
            lstm_learning_rate_multiplier: 1.0,
            weight_decay: 0.01,
            warmup_proportion: 0.0,
            max_grad_norm: 1.0,
            gradient_accumulation_steps: 1,
            seed: 7,
            logging_steps: 0,
            eval_steps: 1,
            early_stopping_patience: 0,
            save_checkpoints_steps: 0,
            keep_checkpoints: 2,
        },
        bio_constraints: true,
        precision: Precision::Fp32,
        device: Device::Cpu,
    };
    Setup {
        spec,
        labels,
        train,
        valid,
        cfg,
    }
}

/// Trains a freshly initialised tagger (same seed each time), checkpointing and resuming in `dir`.
pub fn run(s: &Setup, dir: &Path, stop: &AtomicBool) -> TrainSummary {
    let mut vs = VarStore::new(Device::Cpu);
    tch::manual_seed(1);
    let tagger = NerTagger::new(&vs.root(), &s.spec);
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
    let outputs = TrainOutputs {
        model_dir: Some(ner_infer::ModelDir::new(dir.join("model"))),
        checkpoint_dir: Some(dir.join("checkpoints")),
        tensorboard_dir: None,
        eval_dir: None,
        vocab_path: vocab,
    };
    fit(
        &tagger,
        &mut vs,
        &s.spec,
        &s.labels,
        &s.train,
        Some(&s.valid),
        &s.cfg,
        &outputs,
        stop,
        Replicas::Single,
    )
    .unwrap()
}

/// `n` gold-tagged sentences prepared as a validation set for `s`'s labels.
pub fn eval_set(s: &Setup, n: usize) -> EvalSet {
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
    let tokenizer = Tokenizer::from_vocab_file(&vocab, true).unwrap();
    let sentences = sentences(n);
    EvalSet {
        prepared: Prepared::new(&sentences, &tokenizer, &s.labels, 32, 8).unwrap(),
        sentences,
    }
}
