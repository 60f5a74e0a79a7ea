//! The ALBERT encoder without pooler (HF AlbertModel(add_pooling_layer=False)).

use tch::{nn, Tensor};

use crate::config::AlbertConfig;
use crate::embeddings::{key_mask, AlbertEmbeddings};
use crate::encoder::AlbertTransformer;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;

/// Embeddings + transformer. No pooler: tagging reads every token's state, and leaving it out keeps the
/// VarStore free of variables that would never get a gradient.
#[derive(Debug)]
pub struct AlbertModel {
    pub embeddings: AlbertEmbeddings,
    pub encoder: AlbertTransformer,
    config: AlbertConfig,
}

impl AlbertModel {
    /// Creates `embeddings.*` and `encoder.*` under `path` (the tagger passes `root / "albert"`).
    pub fn new(path: &nn::Path, config: &AlbertConfig) -> Self {
        AlbertModel {
            embeddings: AlbertEmbeddings::new(&(path / "embeddings"), config),
            encoder: AlbertTransformer::new(&(path / "encoder"), config),
            config: config.clone(),
        }
    }

    pub fn config(&self) -> &AlbertConfig {
        &self.config
    }

    /// Converts the transformer's linear layers once to `form` for inference (the embeddings stay).
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.encoder.convert(form)
    }

    /// `input_ids` [B,T] i64, `attention_mask` [B,T] (0/1 integers or bool) → last hidden state [B,T,H].
    /// `train` switches dropout on.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let emb = self.embeddings.forward(input_ids, token_type_ids, train);
        self.encoder.forward(&emb, &key_mask(attention_mask), train)
    }
}
