//! One post-LayerNorm transformer layer (ALBERT's and BERT's are the same computation): attention,
//! then the feed-forward block with its own LayerNorm. Only the variables' names differ.

use tch::{nn, Tensor};

use crate::activation::Activation;
use crate::attention::AlbertAttention;
use crate::config::AlbertConfig;
use crate::embeddings::dropout;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::params::{LayerNorm, Linear, Part};

/// Where a layer's variables live under its path, as a checkpoint family names them.
pub(crate) struct LayerNames {
    pub query: &'static [&'static str],
    pub key: &'static [&'static str],
    pub value: &'static [&'static str],
    pub attention_output: &'static [&'static str],
    pub attention_norm: &'static [&'static str],
    pub ffn: &'static [&'static str],
    pub ffn_output: &'static [&'static str],
    pub output_norm: &'static [&'static str],
}

/// HF `AlbertLayer`: `attention.{query,key,value,dense,LayerNorm}`, `ffn`, `ffn_output`,
/// `full_layer_layer_norm`.
pub(crate) const ALBERT_NAMES: LayerNames = LayerNames {
    query: &["attention", "query"],
    key: &["attention", "key"],
    value: &["attention", "value"],
    attention_output: &["attention", "dense"],
    attention_norm: &["attention", "LayerNorm"],
    ffn: &["ffn"],
    ffn_output: &["ffn_output"],
    output_norm: &["full_layer_layer_norm"],
};

/// HF `BertLayer`: `attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`,
/// `intermediate.dense`, `output.{dense,LayerNorm}`.
pub(crate) const BERT_NAMES: LayerNames = LayerNames {
    query: &["attention", "self", "query"],
    key: &["attention", "self", "key"],
    value: &["attention", "self", "value"],
    attention_output: &["attention", "output", "dense"],
    attention_norm: &["attention", "output", "LayerNorm"],
    ffn: &["intermediate", "dense"],
    ffn_output: &["output", "dense"],
    output_norm: &["output", "LayerNorm"],
};

/// `path` followed by `segments` (`attention` / `self` / `query`).
pub(crate) fn sub<'a>(path: &nn::Path<'a>, segments: &[&str]) -> nn::Path<'a> {
    let (first, rest) = segments.split_first().expect("a name has a segment");
    rest.iter().fold(path / *first, |p, s| p / *s)
}

/// HF AlbertLayer / BertLayer (post-LN): `LN(a + ffn_output(act(ffn(a))))` with `a = attention(x)`.
#[derive(Debug)]
pub struct AlbertLayer {
    pub attention: AlbertAttention,
    pub ffn: Linear,
    pub ffn_output: Linear,
    pub full_layer_layer_norm: LayerNorm,
    activation: Activation,
    dropout: f64,
}

impl AlbertLayer {
    /// The attention's variables, `ffn` (H→I), `ffn_output` (I→H) and the output LayerNorm under
    /// `path`, named as `names` says.
    pub(crate) fn new(path: &nn::Path, cfg: &AlbertConfig, names: &LayerNames) -> Self {
        let std = cfg.initializer_range;
        AlbertLayer {
            attention: AlbertAttention::new(path, cfg, names),
            ffn: Linear::new(
                &sub(path, names.ffn),
                cfg.hidden_size,
                cfg.intermediate_size,
                std,
                Part::Encoder,
            ),
            ffn_output: Linear::new(
                &sub(path, names.ffn_output),
                cfg.intermediate_size,
                cfg.hidden_size,
                std,
                Part::Encoder,
            ),
            full_layer_layer_norm: LayerNorm::new(
                &sub(path, names.output_norm),
                cfg.hidden_size,
                cfg.layer_norm_eps,
                Part::Encoder,
            ),
            activation: cfg.hidden_act,
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// Converts the layer's linear layers once to `form` for inference.
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.attention.convert(form)?;
        self.ffn.convert(form)?;
        self.ffn_output.convert(form)
    }

    pub fn forward(&self, xs: &Tensor, key_mask: &Tensor, train: bool) -> Tensor {
        let a = self.attention.forward(xs, key_mask, train);
        let f = self
            .ffn_output
            .forward(&self.activation.apply(&self.ffn.forward(&a)));
        let f = dropout(&f, self.dropout, train);
        self.full_layer_layer_norm.forward(&(f + a))
    }
}
