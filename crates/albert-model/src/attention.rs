//! Multi-head self-attention with output projection, residual and LayerNorm (HF AlbertAttention).

use tch::{nn, Tensor};

use crate::config::AlbertConfig;
use crate::embeddings::dropout;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::layer::{sub, LayerNames};
use crate::params::{LayerNorm, Linear, Part};

/// Self-attention block; the softmax(QKᵀ/√d)V part runs in libtorch's fused
/// `scaled_dot_product_attention`, which picks a flash / memory-efficient kernel on GPU.
#[derive(Debug)]
pub struct AlbertAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub dense: Linear,
    pub layer_norm: LayerNorm,
    /// Query, key and value as one [3H, H] layer, made once for inference ([`Self::convert`]).
    qkv: Option<Linear>,
    num_heads: i64,
    attention_dropout: f64,
    output_dropout: f64,
}

impl AlbertAttention {
    /// Variables query, key, value, the output projection (H→H) and its LayerNorm under the layer's
    /// `path`, named as `names` says (ALBERT's or BERT's).
    pub(crate) fn new(path: &nn::Path, cfg: &AlbertConfig, names: &LayerNames) -> Self {
        let h = cfg.hidden_size;
        let std = cfg.initializer_range;
        let linear = |at: &[&str]| Linear::new(&sub(path, at), h, h, std, Part::Encoder);
        AlbertAttention {
            query: linear(names.query),
            key: linear(names.key),
            value: linear(names.value),
            dense: linear(names.attention_output),
            layer_norm: LayerNorm::new(
                &sub(path, names.attention_norm),
                h,
                cfg.layer_norm_eps,
                Part::Encoder,
            ),
            qkv: None,
            num_heads: cfg.num_attention_heads,
            attention_dropout: cfg.attention_probs_dropout_prob,
            output_dropout: cfg.hidden_dropout_prob,
        }
    }

    /// Converts the projections once to `form` for inference: query, key and value fused into one
    /// layer (the weights no longer change, so the concatenation [`Self::forward`] does per call in
    /// training is done here once).
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        let mut qkv = tch::no_grad(|| Linear::from_tensors(self.fused_weight(), self.fused_bias()));
        qkv.convert(form)?;
        self.qkv = Some(qkv);
        self.dense.convert(form)
    }

    fn fused_weight(&self) -> Tensor {
        Tensor::cat(
            &[&self.query.weight, &self.key.weight, &self.value.weight],
            0,
        )
    }

    fn fused_bias(&self) -> Tensor {
        Tensor::cat(&[&self.query.bias, &self.key.bias, &self.value.bias], 0)
    }

    /// `xs` [B,T,H], `key_mask` bool [B,1,1,T] (`true` = real token). Padded keys get exactly zero
    /// weight (a boolean mask is applied as -inf before the softmax); padded query rows still produce
    /// values (they attend to the real tokens) but nothing downstream reads them.
    pub fn forward(&self, xs: &Tensor, key_mask: &Tensor, train: bool) -> Tensor {
        let h = xs.size3().expect("attention input must be [B,T,H]").2;
        // One [3H, H] projection instead of three [H, H] ones: fewer, larger matrix products forward
        // and backward (the weights stay three HF-named variables; the concatenation is cheap).
        let qkv = match &self.qkv {
            Some(fused) => fused.forward(xs),
            None => xs.linear(&self.fused_weight(), Some(&self.fused_bias())),
        };
        let qkv = qkv
            .unflatten(2, [3, self.num_heads, h / self.num_heads])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let p = if train { self.attention_dropout } else { 0.0 };
        let ctx =
            Tensor::scaled_dot_product_attention(&q, &k, &v, Some(key_mask), p, false, None, false);
        let ctx = ctx.transpose(1, 2).flatten(2, 3);
        let out = dropout(&self.dense.forward(&ctx), self.output_dropout, train);
        self.layer_norm.forward(&(xs + out))
    }
}
