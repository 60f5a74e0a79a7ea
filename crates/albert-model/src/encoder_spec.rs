//! Which network turns token ids into the states the classifier reads, and how `config.json` names it.

use std::path::Path;

use ner_settings::Choice;
pub use ner_settings::Encoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bert_config::BertConfig;
use crate::bilstm::BiLstmConfig;
use crate::char_embeddings::CharEmbeddingConfig;
use crate::config::AlbertConfig;
use crate::error::{ModelError, Result};
use crate::transformer::{Transformer, TransformerConfig};

/// Extra `config.json` key naming the encoder; absent means the `model_type`'s transformer (`albert`
/// for models saved before the key existed and for HF exports without it).
pub const ENCODER_KEY: &str = "ner_encoder";

/// An encoder's shape: everything needed to rebuild its variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderSpec {
    Albert(AlbertConfig),
    Bilstm {
        embedding: CharEmbeddingConfig,
        lstm: BiLstmConfig,
    },
    AlbertBilstm {
        albert: AlbertConfig,
        lstm: BiLstmConfig,
    },
    Bert(BertConfig),
    BertBilstm {
        bert: BertConfig,
        lstm: BiLstmConfig,
    },
}

/// A transformer alone as an encoder.
impl From<TransformerConfig> for EncoderSpec {
    fn from(config: TransformerConfig) -> Self {
        match config {
            TransformerConfig::Albert(a) => EncoderSpec::Albert(a),
            TransformerConfig::Bert(b) => EncoderSpec::Bert(b),
        }
    }
}

impl EncoderSpec {
    /// fp32 values a training step keeps for the backward pass per sequence of `seq` positions (an
    /// estimate, for refusing a batch that cannot fit before it is tried): per transformer layer
    /// ≈ 6 × hidden + 2 × intermediate per position and 2 × heads × seq² for the attention scores and
    /// probabilities, calibrated on albert_tiny at seq 128 on a CPU (measured peak RSS grows 15.3 MB per
    /// sequence of the batch, this says 15.9); per BiLSTM layer both directions' gates, cells,
    /// outputs, the reversals and dropout masks (≈ 40 × hidden per position), calibrated on the default
    /// BiLSTM (hidden 128, 1 layer, characters 100) at seq 128 on a CPU (peak RSS grows 2.75 MB per
    /// sequence, this says 2.72).
    pub fn training_activations_per_sequence(&self, seq: usize) -> f64 {
        let s = seq as f64;
        let transformer =
            |layers: i64, hidden: i64, intermediate: i64, heads: i64, embedding: i64| {
                let (h, i, a) = (hidden as f64, intermediate as f64, heads as f64);
                layers as f64 * (s * (6.0 * h + 2.0 * i) + 2.0 * a * s * s)
                    + 3.0 * s * (embedding as f64 + h)
            };
        let lstm = |c: &BiLstmConfig, input: i64| {
            c.num_layers as f64 * 40.0 * c.hidden_size as f64 * s + 2.0 * input as f64 * s
        };
        let albert = |a: &AlbertConfig| {
            transformer(
                a.num_hidden_layers,
                a.hidden_size,
                a.intermediate_size,
                a.num_attention_heads,
                a.embedding_size,
            )
        };
        let bert = |b: &BertConfig| {
            transformer(
                b.num_hidden_layers,
                b.hidden_size,
                b.intermediate_size,
                b.num_attention_heads,
                b.hidden_size,
            )
        };
        match self {
            EncoderSpec::Albert(a) => albert(a),
            EncoderSpec::Bert(b) => bert(b),
            EncoderSpec::Bilstm { embedding, lstm: l } => lstm(l, embedding.char_embedding_size),
            EncoderSpec::AlbertBilstm { albert: a, lstm: l } => albert(a) + lstm(l, a.hidden_size),
            EncoderSpec::BertBilstm { bert: b, lstm: l } => bert(b) + lstm(l, b.hidden_size),
        }
    }

    /// Parameters the encoder allocates (the head's few are not counted): for what a job will hold
    /// and write, known before anything is allocated.
    pub fn parameter_count(&self) -> f64 {
        match self {
            EncoderSpec::Albert(a) => a.parameter_count(),
            EncoderSpec::Bert(b) => b.parameter_count(),
            EncoderSpec::Bilstm { embedding, lstm } => {
                (embedding.vocab_size * embedding.char_embedding_size) as f64
                    + lstm.parameter_count(embedding.char_embedding_size)
            }
            EncoderSpec::AlbertBilstm { albert, lstm } => {
                albert.parameter_count() + lstm.parameter_count(albert.hidden_size)
            }
            EncoderSpec::BertBilstm { bert, lstm } => {
                bert.parameter_count() + lstm.parameter_count(bert.hidden_size)
            }
        }
    }

    /// The spec of encoder `kind` from the parts a job configures; each encoder takes the parts it
    /// has. A transformer of the other family than `kind` names (BERT weights for `encoder=albert`, or
    /// the reverse) is refused naming the encoder to use.
    pub fn assemble(
        kind: Encoder,
        transformer: Option<TransformerConfig>,
        lstm: BiLstmConfig,
        chars: CharEmbeddingConfig,
    ) -> Result<Self> {
        if kind == Encoder::Bilstm {
            return Ok(EncoderSpec::Bilstm {
                embedding: chars,
                lstm,
            });
        }
        let Some(transformer) = transformer else {
            return Err(ModelError::config(
                None,
                format!("encoder={kind} needs a transformer config"),
            ));
        };
        Ok(match (kind, transformer) {
            (Encoder::Albert, TransformerConfig::Albert(albert)) => EncoderSpec::Albert(albert),
            (Encoder::AlbertBilstm, TransformerConfig::Albert(albert)) => {
                EncoderSpec::AlbertBilstm { albert, lstm }
            }
            (Encoder::Bert, TransformerConfig::Bert(bert)) => EncoderSpec::Bert(bert),
            (Encoder::BertBilstm, TransformerConfig::Bert(bert)) => {
                EncoderSpec::BertBilstm { bert, lstm }
            }
            (kind, other) => {
                let family = other.encoder();
                let suggestion = if kind.has_lstm() {
                    format!("{family}_bilstm")
                } else {
                    family.to_string()
                };
                return Err(ModelError::config(
                    None,
                    format!(
                        "encoder={kind} but the model config (or pretrained weights) is {}: use \
                         encoder={suggestion}",
                        other.view().describe()
                    ),
                ));
            }
        })
    }

    /// Which encoder this is; `config.json` records it under [`ENCODER_KEY`].
    pub fn kind(&self) -> Encoder {
        match self {
            EncoderSpec::Albert(_) => Encoder::Albert,
            EncoderSpec::Bilstm { .. } => Encoder::Bilstm,
            EncoderSpec::AlbertBilstm { .. } => Encoder::AlbertBilstm,
            EncoderSpec::Bert(_) => Encoder::Bert,
            EncoderSpec::BertBilstm { .. } => Encoder::BertBilstm,
        }
    }

    /// The transformer (ALBERT or BERT), when the encoder has one.
    pub fn transformer(&self) -> Option<Transformer<'_>> {
        match self {
            EncoderSpec::Albert(a) | EncoderSpec::AlbertBilstm { albert: a, .. } => {
                Some(Transformer::Albert(a))
            }
            EncoderSpec::Bert(b) | EncoderSpec::BertBilstm { bert: b, .. } => {
                Some(Transformer::Bert(b))
            }
            EncoderSpec::Bilstm { .. } => None,
        }
    }

    /// The config of an encoder that is a transformer alone (`albert`, `bert`): what pre-training
    /// trains; `None` for the BiLSTM encoders.
    pub fn transformer_alone(&self) -> Option<TransformerConfig> {
        match self {
            EncoderSpec::Albert(a) => Some(TransformerConfig::Albert(a.clone())),
            EncoderSpec::Bert(b) => Some(TransformerConfig::Bert(b.clone())),
            _ => None,
        }
    }

    /// ALBERT's config, when the encoder has ALBERT.
    pub fn albert(&self) -> Option<&AlbertConfig> {
        match self.transformer()? {
            Transformer::Albert(a) => Some(a),
            Transformer::Bert(_) => None,
        }
    }

    /// [`Self::albert`], to adjust (dropout) before the variables are made.
    pub fn albert_mut(&mut self) -> Option<&mut AlbertConfig> {
        match self {
            EncoderSpec::Albert(a) | EncoderSpec::AlbertBilstm { albert: a, .. } => Some(a),
            _ => None,
        }
    }

    /// The BiLSTM's config, when the encoder has one.
    pub fn lstm(&self) -> Option<&BiLstmConfig> {
        match self {
            EncoderSpec::Albert(_) | EncoderSpec::Bert(_) => None,
            EncoderSpec::Bilstm { lstm, .. }
            | EncoderSpec::AlbertBilstm { lstm, .. }
            | EncoderSpec::BertBilstm { lstm, .. } => Some(lstm),
        }
    }

    /// Rows of the input table: the vocabulary must not have more entries.
    pub fn vocab_size(&self) -> i64 {
        match (self.transformer(), self) {
            (Some(t), _) => t.vocab_size(),
            (None, EncoderSpec::Bilstm { embedding, .. }) => embedding.vocab_size,
            (None, _) => unreachable!("every encoder but bilstm has a transformer"),
        }
    }

    /// The longest input (in tokens) the encoder can read, when it has a limit (a transformer's
    /// positions).
    pub fn max_positions(&self) -> Option<i64> {
        self.transformer().map(Transformer::max_position_embeddings)
    }

    /// Features per token of the encoder's output.
    pub fn output_size(&self) -> i64 {
        match (self.lstm(), self.transformer()) {
            (Some(lstm), _) => 2 * lstm.hidden_size,
            (None, Some(t)) => t.hidden_size(),
            (None, None) => unreachable!("every encoder has a transformer or an LSTM"),
        }
    }

    /// Dropout before the classifier: HF's rule for a transformer, the LSTM's dropout after an LSTM.
    pub fn classifier_dropout(&self) -> f64 {
        match (self.lstm(), self.transformer()) {
            (Some(lstm), _) => lstm.dropout,
            (None, Some(t)) => t.classifier_dropout(),
            (None, None) => unreachable!("every encoder has a transformer or an LSTM"),
        }
    }

    /// Standard deviation of the classifier's initial weights.
    pub fn initializer_range(&self) -> f64 {
        self.transformer()
            .map_or(0.02, Transformer::initializer_range)
    }

    /// One line for logs: the encoder and its size.
    pub fn describe(&self) -> String {
        let lstm = self.lstm().map(|l| {
            format!(
                "BiLSTM hidden={}x2 layers={} dropout={}",
                l.hidden_size, l.num_layers, l.dropout
            )
        });
        let input = match (self.transformer(), self) {
            (Some(t), _) => t.describe(),
            (None, EncoderSpec::Bilstm { embedding, .. }) => {
                format!("characters dim={}", embedding.char_embedding_size)
            }
            (None, _) => unreachable!("every encoder but bilstm has a transformer"),
        };
        match lstm {
            Some(lstm) => format!("{input} + {lstm}"),
            None => input,
        }
    }

    /// Checks the sizes the layers rely on, so a bad config fails here and not deep in libtorch.
    pub fn validate(&self, path: Option<&Path>) -> Result<()> {
        if let Some(t) = self.transformer() {
            t.validate(path)?;
        }
        if let EncoderSpec::Bilstm { embedding, .. } = self {
            positive(path, "vocab_size", embedding.vocab_size)?;
            positive(path, "char_embedding_size", embedding.char_embedding_size)?;
        }
        if let Some(l) = self.lstm() {
            positive(path, "lstm_hidden_size", l.hidden_size)?;
            positive(path, "lstm_layers", l.num_layers)?;
            if !(0.0..1.0).contains(&l.dropout) {
                return Err(ModelError::config(
                    path,
                    format!("lstm_dropout must be in [0, 1), got {}", l.dropout),
                ));
            }
        }
        Ok(())
    }

    /// The encoder's part of `config.json`: HF's config of the transformer (so
    /// `AlbertModel.from_pretrained` / `BertModel.from_pretrained` read the directory), the BiLSTM's
    /// and the character table's sizes, the `architectures` entry and [`ENCODER_KEY`].
    pub fn to_config_json(&self) -> Value {
        let mut v = match self.transformer() {
            Some(t) => t.to_hf_json(),
            None => Value::Object(Default::default()),
        };
        if let EncoderSpec::Bilstm { embedding, .. } = self {
            merge(&mut v, serde_json::to_value(embedding).expect("serialises"));
        }
        if let Some(l) = self.lstm() {
            merge(&mut v, serde_json::to_value(l).expect("serialises"));
        }
        let stem = self.transformer().map_or("", Transformer::class_stem);
        let lstm = if self.lstm().is_some() { "BiLstm" } else { "" };
        let architecture = format!("{stem}{lstm}ForTokenClassification");
        v["architectures"] = Value::from(vec![architecture]);
        v[ENCODER_KEY] = Value::from(self.kind().to_string());
        v
    }

    /// Reads what [`Self::to_config_json`] wrote (`text` is the file's content, `path` its name for
    /// errors). Without [`ENCODER_KEY`], `model_type` decides between `albert` and `bert`.
    pub fn from_config_json(value: &Value, text: &str, path: &Path) -> Result<Self> {
        let kind = match value.get(ENCODER_KEY) {
            None if value.get("model_type").and_then(Value::as_str) == Some("bert") => {
                Encoder::Bert
            }
            None => Encoder::Albert,
            Some(k) => serde_json::from_value(k.clone()).map_err(|_| {
                ModelError::config(
                    Some(path),
                    format!("{ENCODER_KEY} is {k}, expected {}", Encoder::expected()),
                )
            })?,
        };
        let lstm = || -> Result<BiLstmConfig> {
            fields(value, path, "lstm_hidden_size, lstm_layers, lstm_dropout")
        };
        let albert = || AlbertConfig::from_hf_json(text, Some(path));
        let bert = || BertConfig::from_json_str(text, Some(path));
        let spec = match kind {
            Encoder::Albert => EncoderSpec::Albert(albert()?),
            Encoder::AlbertBilstm => EncoderSpec::AlbertBilstm {
                albert: albert()?,
                lstm: lstm()?,
            },
            Encoder::Bert => EncoderSpec::Bert(bert()?),
            Encoder::BertBilstm => EncoderSpec::BertBilstm {
                bert: bert()?,
                lstm: lstm()?,
            },
            Encoder::Bilstm => EncoderSpec::Bilstm {
                embedding: fields(value, path, "vocab_size, char_embedding_size, pad_token_id")?,
                lstm: lstm()?,
            },
        };
        spec.validate(Some(path))?;
        Ok(spec)
    }
}

fn positive(path: Option<&Path>, name: &str, value: i64) -> Result<()> {
    if value > 0 {
        Ok(())
    } else {
        Err(ModelError::config(
            path,
            format!("{name} must be positive, got {value}"),
        ))
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// The struct `T` from the keys it names (`keys` lists them for the error).
fn fields<T: serde::de::DeserializeOwned>(value: &Value, path: &Path, keys: &str) -> Result<T> {
    serde_json::from_value(value.clone()).map_err(|e| {
        ModelError::config(
            Some(path),
            format!("{keys} must all be present and numbers: {e}"),
        )
    })
}
