//! Word + position + token-type embeddings at width E, then LayerNorm and dropout (HF AlbertEmbeddings).

use tch::{nn, Kind, Tensor};

use crate::config::AlbertConfig;
use crate::params::{var, LayerNorm, ParamGroup, Part};

/// The factorised input layer: tables are E wide (E < H in ALBERT) and the encoder projects to H.
#[derive(Debug)]
pub struct AlbertEmbeddings {
    pub word_embeddings: Tensor,
    pub position_embeddings: Tensor,
    pub token_type_embeddings: Tensor,
    pub layer_norm: LayerNorm,
    pad_token_id: i64,
    dropout: f64,
}

impl AlbertEmbeddings {
    /// Variables `word_embeddings.weight` [V,E], `position_embeddings.weight` [P,E],
    /// `token_type_embeddings.weight` [T,E], `LayerNorm.{weight,bias}` [E] under `path`.
    pub fn new(path: &nn::Path, cfg: &AlbertConfig) -> Self {
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: cfg.initializer_range,
        };
        let e = cfg.embedding_size;
        let word_embeddings = var(
            &(path / "word_embeddings"),
            "weight",
            &[cfg.vocab_size, e],
            init,
            ParamGroup::new(Part::Encoder, true),
        );
        let pad_token_id = cfg
            .pad_token_id
            .filter(|p| (0..cfg.vocab_size).contains(p))
            .unwrap_or(-1);
        if pad_token_id >= 0 {
            // HF zeroes the padding row at init (nn.Embedding(padding_idx)).
            let _ = tch::no_grad(|| word_embeddings.get(pad_token_id).zero_());
        }
        AlbertEmbeddings {
            word_embeddings,
            position_embeddings: var(
                &(path / "position_embeddings"),
                "weight",
                &[cfg.max_position_embeddings, e],
                init,
                ParamGroup::new(Part::Encoder, true),
            ),
            token_type_embeddings: var(
                &(path / "token_type_embeddings"),
                "weight",
                &[cfg.type_vocab_size, e],
                init,
                ParamGroup::new(Part::Encoder, true),
            ),
            layer_norm: LayerNorm::new(&(path / "LayerNorm"), e, cfg.layer_norm_eps, Part::Encoder),
            pad_token_id,
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `input_ids` [B,T] → [B,T,E]. Positions are 0..T (as HF when `position_ids` is not given);
    /// `token_type_ids` defaults to all zeros.
    ///
    /// # Panics
    /// If T exceeds `max_position_embeddings` (libtorch index error).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let t = input_ids.size()[1];
        let max_pos = self.position_embeddings.size()[0];
        assert!(
            t <= max_pos,
            "sequence length {t} exceeds max_position_embeddings {max_pos}"
        );
        // padding_idx keeps the [PAD] row out of the gradient, as nn.Embedding(padding_idx=pad) does.
        let words = Tensor::embedding(
            &self.word_embeddings,
            input_ids,
            self.pad_token_id,
            false,
            false,
        );
        let positions = Tensor::embedding(
            &self.position_embeddings,
            &positions(input_ids),
            -1,
            false,
            false,
        )
        .unsqueeze(0);
        let types = match token_type_ids {
            Some(tt) => Tensor::embedding(&self.token_type_embeddings, tt, -1, false, false),
            None => self.token_type_embeddings.get(0).view([1, 1, -1]),
        };
        let xs = words + types + positions;
        let xs = self.layer_norm.forward(&xs);
        dropout(&xs, self.dropout, train)
    }
}

/// Dropout that is a no-op (not even a copy) when it cannot change anything.
pub(crate) fn dropout(xs: &Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        xs.dropout(p, true)
    } else {
        xs.shallow_clone()
    }
}

/// Bool [B,1,1,T] key mask for SDPA (`true` = may be attended to) from a 0/1 or bool [B,T] mask.
pub(crate) fn key_mask(attention_mask: &Tensor) -> Tensor {
    let mask = if attention_mask.kind() == Kind::Bool {
        attention_mask.shallow_clone()
    } else {
        attention_mask.ne(0)
    };
    mask.unsqueeze(1).unsqueeze(1)
}

/// `[0, 1, …, T-1]` (i64) for `[B, T]` ids, computed from the ids rather than from their shape, so that a
/// traced graph (`ner_infer`'s TorchScript export) keeps T a dimension of its input, not a constant.
pub(crate) fn positions(input_ids: &Tensor) -> Tensor {
    input_ids.select(0, 0).ones_like().cumsum(0, Kind::Int64) - 1
}
