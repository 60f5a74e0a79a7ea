//! Which network turns token ids into the states the classifier reads, and how `config.json` names it.

use std::path::Path;

use ner_settings::Choice;
pub use ner_settings::Encoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bilstm::BiLstmConfig;
use crate::char_embeddings::CharEmbeddingConfig;
use crate::config::AlbertConfig;
use crate::error::{ModelError, Result};

/// Extra `config.json` key naming the encoder; absent means `albert` (models saved before it existed,
/// and HF exports).
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
}

impl EncoderSpec {
    /// The spec of encoder `kind` from the parts a job configures; each encoder takes the parts it
    /// has (`albert` must be given for the encoders with ALBERT).
    pub fn assemble(
        kind: Encoder,
        albert: Option<AlbertConfig>,
        lstm: BiLstmConfig,
        chars: CharEmbeddingConfig,
    ) -> Result<Self> {
        let albert = || {
            albert.ok_or_else(|| {
                ModelError::config(None, format!("encoder={kind} needs an ALBERT config"))
            })
        };
        Ok(match kind {
            Encoder::Albert => EncoderSpec::Albert(albert()?),
            Encoder::AlbertBilstm => EncoderSpec::AlbertBilstm {
                albert: albert()?,
                lstm,
            },
            Encoder::Bilstm => EncoderSpec::Bilstm {
                embedding: chars,
                lstm,
            },
        })
    }

    /// Which encoder this is; `config.json` records it under [`ENCODER_KEY`].
    pub fn kind(&self) -> Encoder {
        match self {
            EncoderSpec::Albert(_) => Encoder::Albert,
            EncoderSpec::Bilstm { .. } => Encoder::Bilstm,
            EncoderSpec::AlbertBilstm { .. } => Encoder::AlbertBilstm,
        }
    }

    /// ALBERT's config, when the encoder has ALBERT.
    pub fn albert(&self) -> Option<&AlbertConfig> {
        match self {
            EncoderSpec::Albert(a) | EncoderSpec::AlbertBilstm { albert: a, .. } => Some(a),
            EncoderSpec::Bilstm { .. } => None,
        }
    }

    /// [`Self::albert`], to adjust (dropout) before the variables are made.
    pub fn albert_mut(&mut self) -> Option<&mut AlbertConfig> {
        match self {
            EncoderSpec::Albert(a) | EncoderSpec::AlbertBilstm { albert: a, .. } => Some(a),
            EncoderSpec::Bilstm { .. } => None,
        }
    }

    /// The BiLSTM's config, when the encoder has one.
    pub fn lstm(&self) -> Option<&BiLstmConfig> {
        match self {
            EncoderSpec::Albert(_) => None,
            EncoderSpec::Bilstm { lstm, .. } | EncoderSpec::AlbertBilstm { lstm, .. } => Some(lstm),
        }
    }

    /// Rows of the input table: the vocabulary must not have more entries.
    pub fn vocab_size(&self) -> i64 {
        match self {
            EncoderSpec::Albert(a) | EncoderSpec::AlbertBilstm { albert: a, .. } => a.vocab_size,
            EncoderSpec::Bilstm { embedding, .. } => embedding.vocab_size,
        }
    }

    /// The longest input (in tokens) the encoder can read, when it has a limit (ALBERT's positions).
    pub fn max_positions(&self) -> Option<i64> {
        self.albert().map(|a| a.max_position_embeddings)
    }

    /// Features per token of the encoder's output.
    pub fn output_size(&self) -> i64 {
        match (self.lstm(), self.albert()) {
            (Some(lstm), _) => 2 * lstm.hidden_size,
            (None, Some(a)) => a.hidden_size,
            (None, None) => unreachable!("every encoder has ALBERT or an LSTM"),
        }
    }

    /// Dropout before the classifier: HF's rule for ALBERT, the LSTM's dropout after an LSTM.
    pub fn classifier_dropout(&self) -> f64 {
        match (self.lstm(), self.albert()) {
            (Some(lstm), _) => lstm.dropout,
            (None, Some(a)) => a.classifier_dropout(),
            (None, None) => unreachable!("every encoder has ALBERT or an LSTM"),
        }
    }

    /// Standard deviation of the classifier's initial weights.
    pub fn initializer_range(&self) -> f64 {
        self.albert().map_or(0.02, |a| a.initializer_range)
    }

    /// One line for logs: the encoder and its size.
    pub fn describe(&self) -> String {
        let albert = |a: &AlbertConfig| {
            format!(
                "ALBERT hidden={} layers={}",
                a.hidden_size, a.num_hidden_layers
            )
        };
        let lstm = |l: &BiLstmConfig| {
            format!(
                "BiLSTM hidden={}x2 layers={} dropout={}",
                l.hidden_size, l.num_layers, l.dropout
            )
        };
        match self {
            EncoderSpec::Albert(a) => albert(a),
            EncoderSpec::Bilstm { embedding, lstm: l } => format!(
                "characters dim={} + {}",
                embedding.char_embedding_size,
                lstm(l)
            ),
            EncoderSpec::AlbertBilstm { albert: a, lstm: l } => {
                format!("{} + {}", albert(a), lstm(l))
            }
        }
    }

    /// Checks the sizes the layers rely on, so a bad config fails here and not deep in libtorch.
    pub fn validate(&self, path: Option<&Path>) -> Result<()> {
        if let Some(a) = self.albert() {
            a.validate(path)?;
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

    /// The encoder's part of `config.json`: HF's AlbertConfig for ALBERT encoders (so
    /// `AlbertModel.from_pretrained` reads the directory), the BiLSTM's and the character table's
    /// sizes, the `architectures` entry and [`ENCODER_KEY`].
    pub fn to_config_json(&self) -> Value {
        let mut v = match self.albert() {
            Some(a) => a.to_hf_json(),
            None => Value::Object(Default::default()),
        };
        if let EncoderSpec::Bilstm { embedding, .. } = self {
            merge(&mut v, serde_json::to_value(embedding).expect("serialises"));
        }
        if let Some(l) = self.lstm() {
            merge(&mut v, serde_json::to_value(l).expect("serialises"));
        }
        let architecture = match self.kind() {
            Encoder::Albert => "AlbertForTokenClassification",
            Encoder::Bilstm => "BiLstmForTokenClassification",
            Encoder::AlbertBilstm => "AlbertBiLstmForTokenClassification",
        };
        v["architectures"] = Value::from(vec![architecture]);
        v[ENCODER_KEY] = serde_json::to_value(self.kind()).expect("serialises");
        v
    }

    /// Reads what [`Self::to_config_json`] wrote (`text` is the file's content, `path` its name for
    /// errors).
    pub fn from_config_json(value: &Value, text: &str, path: &Path) -> Result<Self> {
        let kind = match value.get(ENCODER_KEY) {
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
        let spec = match kind {
            Encoder::Albert => EncoderSpec::Albert(AlbertConfig::from_hf_json(text, Some(path))?),
            Encoder::AlbertBilstm => EncoderSpec::AlbertBilstm {
                albert: AlbertConfig::from_hf_json(text, Some(path))?,
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
