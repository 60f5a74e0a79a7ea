//! One ALBERT transformer layer: attention, then the feed-forward block with its own LayerNorm.

use tch::{nn, Tensor};

use crate::activation::Activation;
use crate::attention::AlbertAttention;
use crate::config::AlbertConfig;
use crate::embeddings::dropout;
use crate::params::{LayerNorm, Linear, Part};

/// HF AlbertLayer (post-LN): `LN(a + ffn_output(act(ffn(a))))` with `a = attention(x)`.
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
    /// Variables `attention.*`, `ffn` (H→I), `ffn_output` (I→H), `full_layer_layer_norm` under `path`.
    pub fn new(path: &nn::Path, cfg: &AlbertConfig) -> Self {
        let std = cfg.initializer_range;
        AlbertLayer {
            attention: AlbertAttention::new(&(path / "attention"), cfg),
            ffn: Linear::new(
                &(path / "ffn"),
                cfg.hidden_size,
                cfg.intermediate_size,
                std,
                Part::Encoder,
            ),
            ffn_output: Linear::new(
                &(path / "ffn_output"),
                cfg.intermediate_size,
                cfg.hidden_size,
                std,
                Part::Encoder,
            ),
            full_layer_layer_norm: LayerNorm::new(
                &(path / "full_layer_layer_norm"),
                cfg.hidden_size,
                cfg.layer_norm_eps,
                Part::Encoder,
            ),
            activation: cfg.hidden_act,
            dropout: cfg.hidden_dropout_prob,
        }
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
