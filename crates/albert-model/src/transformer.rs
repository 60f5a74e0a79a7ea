//! The two transformer families an encoder can start from, ALBERT and BERT: their configs as a
//! checkpoint or `bert_config_file` gives them, and what every caller asks of either.

use std::path::Path;

use ner_settings::Encoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bert_config::BertConfig;
use crate::config::AlbertConfig;
use crate::error::{ModelError, Result};

/// A pretrained transformer's config, of either family: what a checkpoint or `bert_config_file`
/// describes, before it becomes part of an [`EncoderSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformerConfig {
    Albert(AlbertConfig),
    Bert(BertConfig),
}

impl TransformerConfig {
    /// The transformer alone as an encoder (`albert` or `bert`).
    pub fn encoder(&self) -> Encoder {
        match self {
            TransformerConfig::Albert(_) => Encoder::Albert,
            TransformerConfig::Bert(_) => Encoder::Bert,
        }
    }

    /// A view of it, with what every caller asks of either family.
    pub fn view(&self) -> Transformer<'_> {
        match self {
            TransformerConfig::Albert(a) => Transformer::Albert(a),
            TransformerConfig::Bert(b) => Transformer::Bert(b),
        }
    }

    /// Applies the dropout hyperparameters given (`None` keeps the config's).
    pub fn set_dropout(
        &mut self,
        hidden: Option<f64>,
        attention: Option<f64>,
        classifier: Option<f64>,
    ) {
        let (h, a, c) = match self {
            TransformerConfig::Albert(x) => (
                &mut x.hidden_dropout_prob,
                &mut x.attention_probs_dropout_prob,
                &mut x.classifier_dropout_prob,
            ),
            TransformerConfig::Bert(x) => (
                &mut x.hidden_dropout_prob,
                &mut x.attention_probs_dropout_prob,
                &mut x.classifier_dropout,
            ),
        };
        *h = hidden.unwrap_or(*h);
        *a = attention.unwrap_or(*a);
        if classifier.is_some() {
            *c = classifier;
        }
    }
}

/// A transformer encoder's config, borrowed: the sizes and rules both families share.
#[derive(Clone, Copy, Debug)]
pub enum Transformer<'a> {
    Albert(&'a AlbertConfig),
    Bert(&'a BertConfig),
}

impl Transformer<'_> {
    pub fn hidden_size(self) -> i64 {
        match self {
            Transformer::Albert(a) => a.hidden_size,
            Transformer::Bert(b) => b.hidden_size,
        }
    }

    pub fn vocab_size(self) -> i64 {
        match self {
            Transformer::Albert(a) => a.vocab_size,
            Transformer::Bert(b) => b.vocab_size,
        }
    }

    pub fn max_position_embeddings(self) -> i64 {
        match self {
            Transformer::Albert(a) => a.max_position_embeddings,
            Transformer::Bert(b) => b.max_position_embeddings,
        }
    }

    pub fn initializer_range(self) -> f64 {
        match self {
            Transformer::Albert(a) => a.initializer_range,
            Transformer::Bert(b) => b.initializer_range,
        }
    }

    /// Dropout before the classifier, by HF's rule for the family.
    pub fn classifier_dropout(self) -> f64 {
        match self {
            Transformer::Albert(a) => a.classifier_dropout(),
            Transformer::Bert(b) => b.classifier_dropout(),
        }
    }

    /// Parameters the encoder allocates (f64: an absurd config must not overflow the count that
    /// exists to refuse it).
    pub fn parameter_count(self) -> f64 {
        match self {
            Transformer::Albert(a) => a.parameter_count(),
            Transformer::Bert(b) => b.parameter_count(),
        }
    }

    /// The variables' prefix in a tagger (`albert`, `bert`), as HF's token classifiers name it.
    pub fn prefix(self) -> &'static str {
        match self {
            Transformer::Albert(_) => "albert",
            Transformer::Bert(_) => "bert",
        }
    }

    /// HF's class-name stem (`Albert`, `Bert`).
    pub(crate) fn class_stem(self) -> &'static str {
        match self {
            Transformer::Albert(_) => "Albert",
            Transformer::Bert(_) => "Bert",
        }
    }

    /// One line for logs.
    pub fn describe(self) -> String {
        match self {
            Transformer::Albert(a) => format!(
                "ALBERT hidden={} layers={}",
                a.hidden_size, a.num_hidden_layers
            ),
            Transformer::Bert(b) => {
                format!(
                    "BERT hidden={} layers={}",
                    b.hidden_size, b.num_hidden_layers
                )
            }
        }
    }

    pub(crate) fn validate(self, path: Option<&Path>) -> Result<()> {
        match self {
            Transformer::Albert(a) => a.validate(path),
            Transformer::Bert(b) => b.validate(path),
        }
    }

    /// HF's config object for the family (`model_type` included).
    pub(crate) fn to_hf_json(self) -> Value {
        match self {
            Transformer::Albert(a) => a.to_hf_json(),
            Transformer::Bert(b) => b.to_hf_json(),
        }
    }
}

impl TransformerConfig {
    /// ALBERT's config, when it is one.
    pub fn albert(&self) -> Option<&AlbertConfig> {
        match self {
            TransformerConfig::Albert(a) => Some(a),
            TransformerConfig::Bert(_) => None,
        }
    }

    /// An HF `config.json`: `model_type` says the family (absent: ALBERT, as every HF config this
    /// image wrote before BERT).
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let (text, model_type) = read_with_model_type(path)?;
        Ok(match model_type.as_deref() {
            Some("bert") => TransformerConfig::Bert(BertConfig::from_json_str(&text, Some(path))?),
            _ => TransformerConfig::Albert(AlbertConfig::from_hf_json(&text, Some(path))?),
        })
    }

    /// Reads a config file of either family. HF's `config.json` says which by `model_type`; a
    /// TensorFlow release's file does not, and is read as `family`'s (`bert_config.json` for the BERT
    /// encoders, albert_zh's otherwise).
    pub fn from_json_file(path: &Path, family: Encoder) -> Result<Self> {
        let (text, model_type) = read_with_model_type(path)?;
        let bert = match model_type.as_deref() {
            Some(model_type) => model_type == "bert",
            None => family.transformer() == Some(Encoder::Bert),
        };
        Ok(if bert {
            TransformerConfig::Bert(BertConfig::from_json_str(&text, Some(path))?)
        } else {
            TransformerConfig::Albert(AlbertConfig::from_json_str_detect(&text, Some(path))?)
        })
    }
}

/// A config file's text and its `model_type`, when it says one.
fn read_with_model_type(path: &Path) -> Result<(String, Option<String>)> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    let model_type = value
        .get("model_type")
        .and_then(Value::as_str)
        .map(String::from);
    Ok((text, model_type))
}
