//! ALBERT hyper-parameters, read from HF `config.json` or from albert_zh's `albert_config_*.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activation::Activation;
use crate::error::{ModelError, Result};

/// HF's `AlbertConfig`, field for field (same names, same defaults for absent fields), so that a
/// `config.json` written by `save_pretrained` deserialises directly and ours loads back in Python.
///
/// `num_hidden_groups` / `inner_group_num` keep HF's meaning: `num_hidden_groups` distinct parameter
/// sets, each a stack of `inner_group_num` layers, reused in turn over `num_hidden_layers` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlbertConfig {
    pub vocab_size: i64,
    pub embedding_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_hidden_groups: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub inner_group_num: i64,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    /// Dropout in front of the tagging classifier; HF falls back to `hidden_dropout_prob` when null.
    pub classifier_dropout_prob: Option<f64>,
    pub pad_token_id: Option<i64>,
    pub bos_token_id: Option<i64>,
    pub eos_token_id: Option<Value>,
    /// Only `"absolute"` exists in ALBERT; kept so a config asking for anything else is refused.
    pub position_embedding_type: String,
}

impl Default for AlbertConfig {
    /// HF's defaults (albert-xxlarge shaped), used for fields a `config.json` leaves out.
    fn default() -> Self {
        AlbertConfig {
            vocab_size: 30000,
            embedding_size: 128,
            hidden_size: 4096,
            num_hidden_layers: 12,
            num_hidden_groups: 1,
            num_attention_heads: 64,
            intermediate_size: 16384,
            inner_group_num: 1,
            hidden_act: Activation::GeluNew,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            classifier_dropout_prob: Some(0.1),
            pad_token_id: Some(0),
            bos_token_id: Some(2),
            eos_token_id: Some(Value::from(3)),
            position_embedding_type: "absolute".to_string(),
        }
    }
}

/// albert_zh's config (brightmart's `BertConfig` plus `embedding_size` and `ln_type`).
#[derive(Deserialize)]
struct AlbertZhConfig {
    vocab_size: i64,
    hidden_size: i64,
    #[serde(default = "default_embedding_size")]
    embedding_size: i64,
    num_hidden_layers: i64,
    num_attention_heads: i64,
    intermediate_size: i64,
    #[serde(default = "default_zh_act")]
    hidden_act: String,
    #[serde(default)]
    hidden_dropout_prob: f64,
    #[serde(default)]
    attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_pos")]
    max_position_embeddings: i64,
    #[serde(default = "default_zh_type_vocab")]
    type_vocab_size: i64,
    #[serde(default = "default_init_range")]
    initializer_range: f64,
    #[serde(default)]
    ln_type: Option<String>,
    #[serde(default)]
    num_hidden_groups: Option<i64>,
    #[serde(default)]
    inner_group_num: Option<i64>,
}

fn default_embedding_size() -> i64 {
    128
}
fn default_zh_act() -> String {
    "gelu".to_string()
}
fn default_max_pos() -> i64 {
    512
}
fn default_zh_type_vocab() -> i64 {
    16
}
fn default_init_range() -> f64 {
    0.02
}

impl AlbertConfig {
    /// Parses an HF `config.json` (`model_type` must be `albert` when present).
    pub fn from_hf_json(text: &str, path: Option<&Path>) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| json_err(path, e))?;
        if let Some(mt) = value.get("model_type").and_then(Value::as_str) {
            if mt != "albert" {
                return Err(ModelError::config(
                    path,
                    format!("model_type is {mt:?}, expected \"albert\""),
                ));
            }
        }
        let cfg: AlbertConfig = serde_json::from_value(value).map_err(|e| json_err(path, e))?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Parses an albert_zh (brightmart) `albert_config_*.json`.
    ///
    /// Its `gelu` is TF BERT's tanh approximation, so it becomes [`Activation::GeluNew`]; pre-LN models
    /// (`ln_type: "preln"`, the xlarge/xxlarge releases) run a different layer than ALBERT's and are
    /// refused rather than silently mis-computed. LayerNorm epsilon is TF's 1e-12.
    pub fn from_albert_zh_json(text: &str, path: Option<&Path>) -> Result<Self> {
        let zh: AlbertZhConfig = serde_json::from_str(text).map_err(|e| json_err(path, e))?;
        match zh.ln_type.as_deref() {
            None | Some("postln") => {}
            Some("preln") => {
                return Err(ModelError::config(
                    path,
                    "ln_type \"preln\" (pre-LayerNorm albert_zh xlarge/xxlarge) is not supported: only \
                     post-LN ALBERT layers are implemented",
                ))
            }
            Some(other) => return Err(ModelError::config(path, format!("unknown ln_type {other:?}"))),
        }
        let hidden_act = match zh.hidden_act.as_str() {
            "gelu" => Activation::GeluNew,
            "relu" => Activation::Relu,
            "tanh" => Activation::Tanh,
            other => {
                return Err(ModelError::config(
                    path,
                    format!("unsupported albert_zh hidden_act {other:?}"),
                ))
            }
        };
        let cfg = AlbertConfig {
            vocab_size: zh.vocab_size,
            embedding_size: zh.embedding_size,
            hidden_size: zh.hidden_size,
            num_hidden_layers: zh.num_hidden_layers,
            num_hidden_groups: zh.num_hidden_groups.unwrap_or(1),
            num_attention_heads: zh.num_attention_heads,
            intermediate_size: zh.intermediate_size,
            inner_group_num: zh.inner_group_num.unwrap_or(1),
            hidden_act,
            hidden_dropout_prob: zh.hidden_dropout_prob,
            attention_probs_dropout_prob: zh.attention_probs_dropout_prob,
            max_position_embeddings: zh.max_position_embeddings,
            type_vocab_size: zh.type_vocab_size,
            initializer_range: zh.initializer_range,
            layer_norm_eps: 1e-12,
            ..AlbertConfig::default()
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Reads either kind of file. HF always writes `model_type`; TF-era configs (albert_zh, Google BERT)
    /// never do, and those share albert_zh's conventions (tanh gelu), so that key decides.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json_str_detect(&text, Some(path))
    }

    /// [`Self::from_json_file`] on text already read (e.g. from inside a zip).
    pub fn from_json_str_detect(text: &str, path: Option<&Path>) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| json_err(path, e))?;
        if value.get("model_type").is_some() {
            Self::from_hf_json(text, path)
        } else {
            Self::from_albert_zh_json(text, path)
        }
    }

    /// Checks the invariants the layers rely on, so a bad config fails here and not deep in libtorch.
    pub fn validate(&self, path: Option<&Path>) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("embedding_size", self.embedding_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_hidden_groups", self.num_hidden_groups),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("inner_group_num", self.inner_group_num),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(ModelError::config(
                    path,
                    format!("{name} must be positive, got {v}"),
                ));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(ModelError::config(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(ModelError::config(
                path,
                format!(
                    "position_embedding_type {:?} is not supported (only \"absolute\")",
                    self.position_embedding_type
                ),
            ));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            (
                "classifier_dropout_prob",
                self.classifier_dropout_prob.unwrap_or(0.0),
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(ModelError::config(
                    path,
                    format!("{name} must be in [0, 1), got {p}"),
                ));
            }
        }
        Ok(())
    }

    /// Number of encoder parameters this config allocates (as f64: an absurd config must not
    /// overflow the count that exists to refuse it).
    pub fn parameter_count(&self) -> f64 {
        let [v, e, h, i, p, t] = [
            self.vocab_size,
            self.embedding_size,
            self.hidden_size,
            self.intermediate_size,
            self.max_position_embeddings,
            self.type_vocab_size,
        ]
        .map(|x| x as f64);
        let embeddings = (v + p + t) * e + 2.0 * e;
        let projection = e * h + h;
        let attention = 4.0 * (h * h + h) + 2.0 * h;
        let ffn = h * i + i + i * h + h + 2.0 * h;
        let layers = (self.num_hidden_groups * self.inner_group_num) as f64;
        embeddings + projection + layers * (attention + ffn)
    }

    /// Dropout applied to encoder output before the tagging classifier (HF's token-classification rule).
    pub fn classifier_dropout(&self) -> f64 {
        self.classifier_dropout_prob
            .unwrap_or(self.hidden_dropout_prob)
    }

    /// The object HF's `AlbertConfig.from_pretrained` reads: our fields plus `model_type`.
    pub fn to_hf_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("AlbertConfig serialises");
        v["model_type"] = Value::from("albert");
        v
    }

    /// Which layer group serves step `layer` of `num_hidden_layers`, computed as HF's AlbertTransformer
    /// does (float division then truncation), so uneven splits share the same layers as in Python.
    pub fn group_of_layer(&self, layer: i64) -> usize {
        (layer as f64 / (self.num_hidden_layers as f64 / self.num_hidden_groups as f64)) as usize
    }
}

/// A JSON error, naming the file where there is one.
pub(crate) fn json_err(path: Option<&Path>, e: serde_json::Error) -> ModelError {
    match path {
        Some(p) => ModelError::Json {
            path: p.to_path_buf(),
            source: e,
        },
        None => ModelError::config(None, format!("invalid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../albert_config");

    #[test]
    fn albert_zh_configs_parse_with_tanh_gelu_and_defaults() {
        for size in ["tiny", "base", "large", "xlarge"] {
            let p = std::path::PathBuf::from(format!("{SHARED}/albert_config_{size}.json"));
            let c = AlbertConfig::from_json_file(&p).unwrap();
            assert_eq!(c.hidden_act, Activation::GeluNew, "{size}");
            assert_eq!((c.num_hidden_groups, c.inner_group_num), (1, 1));
            assert_eq!(c.layer_norm_eps, 1e-12);
            assert_eq!(c.embedding_size, 128);
            assert_eq!(c.vocab_size, 21128);
        }
    }

    #[test]
    fn parameter_count_matches_the_allocated_model() {
        let config = AlbertConfig {
            vocab_size: 100,
            embedding_size: 8,
            hidden_size: 16,
            intermediate_size: 32,
            num_attention_heads: 2,
            num_hidden_layers: 3,
            num_hidden_groups: 1,
            max_position_embeddings: 40,
            ..AlbertConfig::default()
        };
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _model = crate::AlbertModel::new(&(vs.root() / "albert"), &config);
        let allocated: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
        assert_eq!(config.parameter_count(), allocated as f64);
    }

    #[test]
    fn preln_is_refused_clearly() {
        let text = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                      "intermediate_size": 16, "ln_type": "preln"}"#;
        let err = AlbertConfig::from_json_str_detect(text, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("preln"), "{err}");
    }

    #[test]
    fn hf_round_trip_and_group_schedule() {
        let c = AlbertConfig {
            vocab_size: 50,
            embedding_size: 8,
            hidden_size: 16,
            num_hidden_layers: 3,
            num_hidden_groups: 2,
            num_attention_heads: 4,
            intermediate_size: 20,
            hidden_act: Activation::Gelu,
            ..Default::default()
        };
        let text = serde_json::to_string(&c.to_hf_json()).unwrap();
        let back = AlbertConfig::from_json_str_detect(&text, None).unwrap();
        assert_eq!(back, c);
        // HF: int(i / (3 / 2)) -> 0, 0, 1
        assert_eq!(
            (0..3).map(|i| c.group_of_layer(i)).collect::<Vec<_>>(),
            vec![0, 0, 1]
        );
        let bad = AlbertConfig {
            hidden_size: 15,
            ..c
        };
        assert!(bad.validate(None).is_err());
    }

    #[test]
    fn hf_missing_groups_default_to_one() {
        let text = r#"{"model_type": "albert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2,
                      "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu"}"#;
        let c = AlbertConfig::from_json_str_detect(text, None).unwrap();
        assert_eq!(
            (c.num_hidden_groups, c.inner_group_num, c.hidden_act),
            (1, 1, Activation::Gelu)
        );
    }
}
