//! BERT hyper-parameters, read from HF `config.json` (`model_type: bert`) or from a TensorFlow release's
//! `bert_config.json` (Google's `chinese_L-12_H-768_A-12`, HFL's RoBERTa-wwm-ext and MacBERT).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activation::Activation;
use crate::config::{json_err, AlbertConfig};
use crate::error::{ModelError, Result};

/// HF's `BertConfig`, field for field (same names, same defaults for absent fields), so a `config.json`
/// written by `save_pretrained` deserialises directly and ours loads back in Python as `BertModel`.
/// A TF release's `bert_config.json` has the same keys (and some of the pooler's, ignored) and reads
/// the same way; its `gelu` is read as HF reads it (the exact form), so a checkpoint computes here
/// what transformers computes after its own TF-to-PyTorch conversion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    pub pad_token_id: Option<i64>,
    /// Dropout in front of the tagging classifier; HF falls back to `hidden_dropout_prob` when null.
    pub classifier_dropout: Option<f64>,
    /// Only `"absolute"` is implemented; kept so a config asking for anything else is refused.
    pub position_embedding_type: String,
}

impl Default for BertConfig {
    /// HF's defaults (bert-base shaped), used for fields a config leaves out.
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: Some(0),
            classifier_dropout: None,
            position_embedding_type: "absolute".to_string(),
        }
    }
}

impl BertConfig {
    /// Parses an HF `config.json` (`model_type` must be `bert` when present) or a TF release's
    /// `bert_config.json`.
    pub fn from_json_str(text: &str, path: Option<&Path>) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| json_err(path, e))?;
        if let Some(mt) = value.get("model_type").and_then(Value::as_str) {
            if mt != "bert" {
                return Err(ModelError::config(
                    path,
                    format!("model_type is {mt:?}, expected \"bert\""),
                ));
            }
        }
        let cfg: BertConfig = serde_json::from_value(value).map_err(|e| json_err(path, e))?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// [`Self::from_json_str`] on a file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json_str(&text, Some(path))
    }

    /// The same computation in ALBERT's terms: embeddings as wide as the hidden states, one parameter
    /// group per layer. BERT's modules are ALBERT's under BERT's names, built from this, and a TF
    /// checkpoint's load is planned against it.
    pub fn as_albert(&self) -> AlbertConfig {
        AlbertConfig {
            vocab_size: self.vocab_size,
            embedding_size: self.hidden_size,
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_hidden_layers,
            num_hidden_groups: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            inner_group_num: 1,
            hidden_act: self.hidden_act,
            hidden_dropout_prob: self.hidden_dropout_prob,
            attention_probs_dropout_prob: self.attention_probs_dropout_prob,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            initializer_range: self.initializer_range,
            layer_norm_eps: self.layer_norm_eps,
            classifier_dropout_prob: self.classifier_dropout,
            pad_token_id: self.pad_token_id,
            position_embedding_type: self.position_embedding_type.clone(),
            ..AlbertConfig::default()
        }
    }

    /// Checks the invariants the layers rely on (those of the same computation in ALBERT's terms).
    pub fn validate(&self, path: Option<&Path>) -> Result<()> {
        self.as_albert().validate(path)
    }

    /// Number of encoder parameters this config allocates (no pooler).
    pub fn parameter_count(&self) -> f64 {
        let a = self.as_albert();
        // ALBERT's count includes an H→H projection BERT does not have.
        let h = a.hidden_size as f64;
        a.parameter_count() - (h * h + h)
    }

    /// Dropout applied to encoder output before the tagging classifier (HF's token-classification rule).
    pub fn classifier_dropout(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// The object HF's `BertConfig.from_pretrained` reads: our fields plus `model_type`.
    pub fn to_hf_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("BertConfig serialises");
        v["model_type"] = Value::from("bert");
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tf_release_config_reads_with_hf_defaults_and_its_own_sizes() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/real-index/chinese_bert_vocab5981/bert_config.json"
        ))
        .unwrap();
        let c = BertConfig::from_json_str(&text, None).unwrap();
        assert_eq!(
            (c.vocab_size, c.hidden_size, c.num_hidden_layers),
            (5981, 768, 12)
        );
        assert_eq!(c.hidden_act, Activation::Gelu);
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert_eq!(c.classifier_dropout(), 0.1);
    }

    #[test]
    fn parameter_count_matches_the_allocated_model() {
        let config = BertConfig {
            vocab_size: 100,
            hidden_size: 16,
            intermediate_size: 32,
            num_attention_heads: 2,
            num_hidden_layers: 3,
            max_position_embeddings: 40,
            ..BertConfig::default()
        };
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _model = crate::BertModel::new(&(vs.root() / "bert"), &config);
        let allocated: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
        assert_eq!(config.parameter_count(), allocated as f64);
    }

    #[test]
    fn another_model_type_is_refused_naming_it() {
        let err = BertConfig::from_json_str(r#"{"model_type": "albert"}"#, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"albert\"") && err.contains("\"bert\""),
            "{err}"
        );
        let c = BertConfig {
            hidden_size: 15,
            num_attention_heads: 4,
            ..BertConfig::default()
        };
        assert!(c.validate(None).is_err());
    }
}
