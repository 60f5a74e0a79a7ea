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
