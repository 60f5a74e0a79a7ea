//! The E→H projection and the shared layer groups (HF AlbertTransformer).

use tch::{nn, Tensor};

use crate::config::AlbertConfig;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::layer::{AlbertLayer, ALBERT_NAMES};
use crate::params::{Linear, Part};

/// `num_hidden_groups` parameter sets of `inner_group_num` layers each; step i of `num_hidden_layers`
/// runs the whole group [`AlbertConfig::group_of_layer`]`(i)`, exactly as HF schedules it, so
/// `num_hidden_layers × inner_group_num` layers are applied in all.
#[derive(Debug)]
pub struct AlbertTransformer {
    pub embedding_hidden_mapping_in: Linear,
    pub groups: Vec<Vec<AlbertLayer>>,
    schedule: Vec<usize>,
}

impl AlbertTransformer {
    /// Variables `embedding_hidden_mapping_in` and `albert_layer_groups.{g}.albert_layers.{i}.*`.
    pub fn new(path: &nn::Path, cfg: &AlbertConfig) -> Self {
        let groups_path = path / "albert_layer_groups";
        let groups = (0..cfg.num_hidden_groups)
            .map(|g| {
                let layers_path = &groups_path / g / "albert_layers";
                (0..cfg.inner_group_num)
                    .map(|i| AlbertLayer::new(&(&layers_path / i), cfg, &ALBERT_NAMES))
                    .collect()
            })
            .collect();
        AlbertTransformer {
            embedding_hidden_mapping_in: Linear::new(
                &(path / "embedding_hidden_mapping_in"),
                cfg.embedding_size,
                cfg.hidden_size,
                cfg.initializer_range,
                Part::Encoder,
            ),
            groups,
            schedule: (0..cfg.num_hidden_layers)
                .map(|i| cfg.group_of_layer(i))
                .collect(),
        }
    }

    /// Converts the projection and every layer group once to `form` for inference.
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.embedding_hidden_mapping_in.convert(form)?;
        self.groups
            .iter_mut()
            .flatten()
            .try_for_each(|layer| layer.convert(form))
    }

    /// [B,T,E] embeddings → [B,T,H] final hidden states.
    pub fn forward(&self, embeddings: &Tensor, key_mask: &Tensor, train: bool) -> Tensor {
        let mut xs = self.embedding_hidden_mapping_in.forward(embeddings);
        for &g in &self.schedule {
            for layer in &self.groups[g] {
                xs = layer.forward(&xs, key_mask, train);
            }
        }
        xs
    }
}
