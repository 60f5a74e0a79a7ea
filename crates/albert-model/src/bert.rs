//! The BERT encoder without pooler (HF `BertModel(add_pooling_layer=False)`), for Google's Chinese BERT,
//! HFL's RoBERTa-wwm-ext and MacBERT (BERT architecture despite their names).
//!
//! BERT is the computation of an ALBERT whose embeddings are as wide as its hidden states (no
//! projection) and whose every layer has its own parameters: the modules are ALBERT's, under BERT's
//! variable names (`embeddings.*`, `encoder.layer.{i}.attention.self.query`, …).

use tch::{nn, Tensor};

use crate::bert_config::BertConfig;
use crate::embeddings::{key_mask, AlbertEmbeddings};
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::layer::{AlbertLayer, BERT_NAMES};

/// Embeddings + a stack of layers, each with its own weights.
#[derive(Debug)]
pub struct BertModel {
    embeddings: AlbertEmbeddings,
    layers: Vec<AlbertLayer>,
    config: BertConfig,
}

impl BertModel {
    /// Creates `embeddings.*` and `encoder.layer.{i}.*` under `path` (the tagger passes
    /// `root / "bert"`).
    pub fn new(path: &nn::Path, config: &BertConfig) -> Self {
        let same = config.as_albert();
        let layers_path = path / "encoder" / "layer";
        BertModel {
            embeddings: AlbertEmbeddings::new(&(path / "embeddings"), &same),
            layers: (0..config.num_hidden_layers)
                .map(|i| AlbertLayer::new(&(&layers_path / i), &same, &BERT_NAMES))
                .collect(),
            config: config.clone(),
        }
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// `embeddings.word_embeddings.weight` [V, H].
    pub(crate) fn word_embeddings(&self) -> &Tensor {
        &self.embeddings.word_embeddings
    }

    /// Converts every layer's linear layers once to `form` for inference.
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.layers
            .iter_mut()
            .try_for_each(|layer| layer.convert(form))
    }

    /// `input_ids` [B,T] i64, `attention_mask` [B,T] (0/1 integers or bool) → last hidden state
    /// [B,T,H]. `train` switches dropout on.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let mask = key_mask(attention_mask);
        let mut xs = self.embeddings.forward(input_ids, token_type_ids, train);
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, train);
        }
        xs
    }
}
