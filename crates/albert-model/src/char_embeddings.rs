//! The character table of the `bilstm` encoder: `nn.Embedding(vocab_size, char_embedding_size,
//! padding_idx)` over the same vocabulary and tokenizer as ALBERT, saved as `embedding.weight`.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::params::{var, ParamGroup, Part};

/// The shape of [`CharEmbeddings`], saved in `config.json` under these names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharEmbeddingConfig {
    pub vocab_size: i64,
    pub char_embedding_size: i64,
    /// The `[PAD]` id: its row stays zero and gets no gradient, as with `nn.Embedding(padding_idx)`.
    pub pad_token_id: i64,
}

/// One learnt vector per vocabulary entry.
#[derive(Debug)]
pub struct CharEmbeddings {
    pub weight: Tensor,
    pad_token_id: i64,
}

impl CharEmbeddings {
    /// `weight` [V, E] under `path`, drawn from N(0, 1) as `nn.Embedding` initialises it, the padding
    /// row zero. It is the encoder's input table, so it learns with [`Part::Encoder`].
    pub fn new(path: &nn::Path, config: CharEmbeddingConfig) -> Self {
        let weight = var(
            path,
            "weight",
            &[config.vocab_size, config.char_embedding_size],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
            ParamGroup::new(Part::Encoder, true),
        );
        let pad_token_id = if (0..config.vocab_size).contains(&config.pad_token_id) {
            let _ = tch::no_grad(|| weight.get(config.pad_token_id).zero_());
            config.pad_token_id
        } else {
            -1
        };
        CharEmbeddings {
            weight,
            pad_token_id,
        }
    }

    /// `input_ids` [B, T] → [B, T, E].
    pub fn forward(&self, input_ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.weight, input_ids, self.pad_token_id, false, false)
    }

    /// Replaces the rows `ids` with `vectors` [ids.len(), E] (pretrained character vectors); the other
    /// rows keep their initial values.
    ///
    /// # Panics
    /// If `vectors` is not [ids.len(), E] or an id is outside the table.
    pub fn set_rows(&mut self, ids: &[i64], vectors: &Tensor) {
        let e = self.weight.size()[1];
        assert_eq!(vectors.size(), [ids.len() as i64, e], "one vector per id");
        let index = Tensor::from_slice(ids).to_device(self.weight.device());
        let values = vectors
            .to_kind(self.weight.kind())
            .to_device(self.weight.device());
        tch::no_grad(|| {
            let _ = self.weight.index_copy_(0, &index, &values);
        });
    }
}
