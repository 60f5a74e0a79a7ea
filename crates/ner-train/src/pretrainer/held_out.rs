//! What pre-training is scored on: held-out sequences, masked once with fixed draws so every
//! evaluation sees the same predictions to make; the loss per predicted piece, its perplexity and
//! the share predicted right.

use std::path::PathBuf;

use albert_model::{MaskedLm, MlmBatch};
use ner_data::pretraining::{collate_masked, MaskedBatch, MaskedSequence};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::PretrainData;
use crate::error::TrainError;

/// Masking indices of held-out sequences: far from any training sequence's.
const HELD_OUT_INDEX_BASE: u64 = 1 << 62;

/// Held-out masked sequences.
pub(super) struct HeldOut {
    sequences: Vec<MaskedSequence>,
    pad_id: i64,
}

/// One evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MlmScores {
    /// Mean cross-entropy per predicted piece.
    pub loss: f64,
    pub perplexity: f64,
    /// Predicted pieces whose top score is the original.
    pub accuracy: f64,
    pub predicted: i64,
    /// Segment pairs whose order is told right, with sentence-order prediction.
    pub sentence_order_accuracy: Option<f64>,
}

impl HeldOut {
    /// The first `n` sequences of `source`, masked.
    pub fn read(files: &[PathBuf], data: &PretrainData, n: usize) -> Result<Self, TrainError> {
        let mut sequences = Vec::with_capacity(n);
        if n > 0 {
            for (i, packed) in data.stream(files).take(n).enumerate() {
                let packed = packed?;
                sequences.push(data.masking.mask(&packed, HELD_OUT_INDEX_BASE + i as u64));
            }
        }
        Ok(HeldOut {
            sequences,
            pad_id: data.words.tokenizer().pad_id(),
        })
    }

    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// Scores `mlm` on every held-out sequence (dropout off, no gradients); `None` when there are none.
    pub fn evaluate(&self, mlm: &MaskedLm, batch_size: usize, device: Device) -> Option<MlmScores> {
        let (mut loss_sum, mut predicted, mut correct) = (0.0, 0i64, 0i64);
        let (mut pairs, mut pairs_right) = (0i64, 0i64);
        tch::no_grad(|| {
            for chunk in self.sequences.chunks(batch_size.max(1)) {
                let b = BatchTensors::new(&collate_masked(chunk, self.pad_id), device);
                let out = mlm.forward(&b.as_batch(mlm), false);
                loss_sum += out.loss.to_kind(Kind::Double).double_value(&[]) * out.predicted as f64;
                predicted += out.predicted;
                correct += out.correct;
                if let Some(order) = out.sentence_order {
                    pairs += order.labelled;
                    pairs_right += order.correct;
                }
            }
        });
        (predicted > 0).then(|| {
            let loss = loss_sum / predicted as f64;
            MlmScores {
                loss,
                perplexity: loss.exp(),
                accuracy: correct as f64 / predicted as f64,
                predicted,
                sentence_order_accuracy: (pairs > 0).then(|| pairs_right as f64 / pairs as f64),
            }
        })
    }
}

/// A collated masked batch on the device.
pub(super) struct BatchTensors {
    input_ids: Tensor,
    attention_mask: Tensor,
    labels: Tensor,
    token_type_ids: Tensor,
    sentence_order_labels: Tensor,
}

impl BatchTensors {
    pub(super) fn new(b: &MaskedBatch, device: Device) -> Self {
        let t = |v: &[i64]| {
            Tensor::from_slice(v)
                .view([b.batch_size as i64, b.seq_len as i64])
                .to_device(device)
        };
        BatchTensors {
            input_ids: t(&b.input_ids),
            attention_mask: t(&b.attention_mask),
            labels: t(&b.labels),
            token_type_ids: t(&b.token_type_ids),
            sentence_order_labels: Tensor::from_slice(&b.sentence_order_labels).to_device(device),
        }
    }

    /// The model's input; the segments and their order only for a model with a sentence-order head.
    pub(super) fn as_batch(&self, mlm: &MaskedLm) -> MlmBatch<'_> {
        let order = mlm.has_sentence_order();
        MlmBatch {
            input_ids: &self.input_ids,
            attention_mask: &self.attention_mask,
            labels: &self.labels,
            token_type_ids: order.then_some(&self.token_type_ids),
            sentence_order_labels: order.then_some(&self.sentence_order_labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use albert_model::{AlbertConfig, TransformerConfig};
    use ner_data::pretraining::{MaskedSequence, IGNORED};
    use tch::nn::VarStore;

    use super::*;

    #[test]
    fn a_model_with_a_sentence_order_head_reads_the_segments_and_their_order() {
        let config = TransformerConfig::Albert(AlbertConfig {
            vocab_size: 10,
            embedding_size: 4,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 8,
            max_position_embeddings: 8,
            ..AlbertConfig::default()
        });
        let pair = MaskedSequence {
            input_ids: vec![2, 5, 3, 6, 3],
            labels: vec![IGNORED, 5, IGNORED, IGNORED, IGNORED],
            token_type_ids: vec![0, 0, 0, 1, 1],
            sentence_order_label: 1,
        };
        let b = BatchTensors::new(&collate_masked(&[pair], 0), Device::Cpu);
        let vs = VarStore::new(Device::Cpu);
        let with = MaskedLm::with_sentence_order(&vs.root(), &config).unwrap();
        let batch = b.as_batch(&with);
        let types = batch
            .token_type_ids
            .expect("segments for a sentence-order head");
        assert_eq!(
            Vec::<i64>::try_from(types.view([-1])).unwrap(),
            [0, 0, 0, 1, 1]
        );
        let order = batch.sentence_order_labels.expect("orders for it");
        assert_eq!(Vec::<i64>::try_from(order).unwrap(), [1]);
        let plain = MaskedLm::new(&VarStore::new(Device::Cpu).root(), &config);
        let batch = b.as_batch(&plain);
        assert!(batch.token_type_ids.is_none() && batch.sentence_order_labels.is_none());
    }
}
