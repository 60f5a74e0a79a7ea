//! The model directory `train` writes, loaded once: what `predict` and `serve` tag text with.

use std::path::{Path, PathBuf};

use albert_model::{NerTagger, TaggerSpec};
use ner_data::{LabelSet, Sentence, Tokenizer};
use ner_settings::ModelSettings;
use tch::{nn, Device};

use crate::entities::{entities, Entity};
use crate::error::InferError;
use crate::inference_mode::{CpuSupport, InferenceMode};
use crate::model_dir::ModelDir;
use crate::tagging::{
    length_sorted_chunks, predict_chunks, token_budget_chunks, PredictSettings, Prepared,
};
use ner_settings::InferencePrecision;

/// How a call to [`TrainedModel::tag`] groups windows into forward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// At most this many windows per batch (`predict --batch-size`).
    Windows(usize),
    /// At most this many padded tokens per batch (`serve`'s dynamic batches).
    Tokens(usize),
}

/// One tagged text.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    pub chars: Vec<char>,
    /// One BIO tag per character.
    pub tags: Vec<String>,
    pub entities: Vec<Entity>,
}

/// A trained tagger with its tokenizer, labels and settings, on one device.
pub struct TrainedModel {
    // Owns the variables the tagger's tensors are views of.
    pub(crate) vars: nn::VarStore,
    pub(crate) tagger: NerTagger,
    pub(crate) spec: TaggerSpec,
    labels: LabelSet,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) settings: ModelSettings,
    pub(crate) device: Device,
    /// The linear layers' form and the forward pass's autocast, with the reason.
    mode: InferenceMode,
    pub(crate) dir: PathBuf,
}

impl TrainedModel {
    /// Reads the model in `dir` onto `device` to tag in `precision` (its linear layers converted once
    /// here). Every missing or inconsistent file is an error naming it; a precision the device cannot
    /// compute in is an error saying what it can.
    pub fn load(
        dir: &ModelDir,
        device: Device,
        precision: InferencePrecision,
    ) -> Result<Self, InferError> {
        let settings = dir.read_settings()?;
        let (vars, mut tagger, spec, vocab) = dir.read_tagger(device)?;
        let mode = InferenceMode::resolve(precision, device, &spec.encoder, CpuSupport::detect())?;
        tagger.convert_linear_layers(mode.weights)?;
        let labels = LabelSet::from_labels(&spec.labels, &dir.config_path())?;
        let tokenizer = Tokenizer::from_vocab_file(&vocab, settings.do_lower_case)?;
        let model = Self {
            vars,
            tagger,
            spec,
            labels,
            tokenizer,
            settings,
            device,
            mode,
            dir: dir.path().to_path_buf(),
        };
        model.check_windows(&dir.settings_path())?;
        Ok(model)
    }

    /// The variables and the tagger over them, for a caller that shares the weights (the trainer's
    /// ranks scoring the saved model, loaded in fp32).
    pub fn into_tagger(self) -> (nn::VarStore, NerTagger) {
        (self.vars, self.tagger)
    }

    /// How the model windows and decodes text: as trained, unless replaced.
    pub fn settings(&self) -> ModelSettings {
        self.settings
    }

    /// What the model tags in, and why.
    pub fn mode(&self) -> &InferenceMode {
        &self.mode
    }

    /// One line for logs: directory, encoder, head, labels, device and precision (which and why).
    pub fn describe(&self) -> String {
        let labels: Vec<&str> = (0..self.labels.len())
            .map(|i| self.labels.name(i as i64))
            .collect();
        format!(
            "{} ({}, {:?} head), labels [{}], device {:?}, precision {}",
            self.dir.display(),
            self.spec.encoder.describe(),
            self.spec.head,
            labels.join(", "),
            self.device,
            self.mode.why,
        )
    }

    /// Decodes with or without the BIO constraints, whatever the model was trained with
    /// (`predict --bio-constraints`).
    pub fn with_bio_constraints(mut self, bio_constraints: bool) -> Self {
        self.settings.bio_constraints = bio_constraints;
        self
    }

    /// Replaces the trained window settings (`predict --max-seq-length/--window-stride`).
    pub fn with_windows(
        mut self,
        max_seq_length: usize,
        window_stride: usize,
        source: &Path,
    ) -> Result<Self, InferError> {
        self.settings.max_seq_length = max_seq_length;
        self.settings.window_stride = window_stride;
        self.check_windows(source)?;
        Ok(self)
    }

    fn check_windows(&self, source: &Path) -> Result<(), InferError> {
        let s = self.settings;
        let bad = |message: String| {
            Err(InferError::Settings {
                path: source.to_path_buf(),
                message,
            })
        };
        if s.max_seq_length < 3 {
            return bad(format!(
                "max_seq_length {}: a window needs [CLS], [SEP] and at least one piece",
                s.max_seq_length
            ));
        }
        if s.window_stride >= s.max_seq_length - 2 {
            return bad(format!(
                "window_stride {} must be smaller than a window's content (max_seq_length - 2 = {})",
                s.window_stride,
                s.max_seq_length - 2
            ));
        }
        if let Some(max) = self.spec.encoder.max_positions() {
            if s.max_seq_length as i64 > max {
                return bad(format!(
                    "max_seq_length {} exceeds the model's max_position_embeddings {max}",
                    s.max_seq_length
                ));
            }
        }
        Ok(())
    }

    /// Tags each text (any length: long texts are windowed; an empty text has no tags). With
    /// `scores`, each entity carries the model's confidence (a second, forward-backward pass of the
    /// CRF). `keep_going` is asked before each batch; `None` when it said no (a caller that gave up).
    pub fn tag(
        &self,
        texts: &[&str],
        batching: Batching,
        scores: bool,
        keep_going: impl FnMut() -> bool,
    ) -> Result<Option<Vec<Tagged>>, InferError> {
        let sentences: Vec<Sentence> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, t)| Sentence::untagged(t, i + 1))
            .collect();
        let s = self.settings;
        let prepared = Prepared::new(
            &sentences,
            &self.tokenizer,
            &self.labels,
            s.max_seq_length,
            s.window_stride,
        )?;
        let chunks = match batching {
            Batching::Windows(n) => length_sorted_chunks(&prepared.features, n),
            Batching::Tokens(n) => token_budget_chunks(&prepared.features, n),
        };
        let settings = PredictSettings {
            device: self.device,
            precision: self.mode.autocast,
            bio_constraints: s.bio_constraints,
            with_loss: false,
            with_confidence: scores,
        };
        let Some(predictions) = predict_chunks(
            &self.tagger,
            &self.labels,
            &prepared,
            settings,
            &chunks,
            keep_going,
        ) else {
            return Ok(None);
        };
        let mut tagged = sentences
            .into_iter()
            .zip(predictions.char_tags)
            .zip(&prepared.tokenized)
            .enumerate()
            .map(|(i, ((sentence, tags), tokenized))| {
                let confidence = predictions.unit_confidence.get(i).map(Vec::as_slice);
                Tagged {
                    entities: entities(&sentence.chars, &tags, &tokenized.units, confidence),
                    chars: sentence.chars,
                    tags,
                }
            });
        Ok(Some(
            texts
                .iter()
                .map(|t| {
                    if t.is_empty() {
                        Tagged {
                            chars: Vec::new(),
                            tags: Vec::new(),
                            entities: Vec::new(),
                        }
                    } else {
                        tagged.next().expect("one tagging per non-empty text")
                    }
                })
                .collect(),
        ))
    }
}
