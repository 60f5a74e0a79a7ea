//! What pre-training is scored on: held-out sequences, masked once with fixed draws so every
//! evaluation sees the same predictions to make; the loss per predicted piece, its perplexity and
//! the share predicted right.

use std::path::PathBuf;

use albert_model::MaskedLm;
use ner_data::pretraining::{collate_masked, MaskedSequence, PackedStream};
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
}

impl HeldOut {
    /// The first `n` sequences of `source`, masked.
    pub fn read(files: &[PathBuf], data: &PretrainData, n: usize) -> Result<Self, TrainError> {
        let mut sequences = Vec::with_capacity(n);
        if n > 0 {
            let stream = PackedStream::new(files.to_vec(), data.words.clone(), data.max_seq_length);
            for (i, packed) in stream.take(n).enumerate() {
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
        tch::no_grad(|| {
            for chunk in self.sequences.chunks(batch_size.max(1)) {
                let b = collate_masked(chunk, self.pad_id);
                let t = |v: &[i64]| {
                    Tensor::from_slice(v)
                        .view([b.batch_size as i64, b.seq_len as i64])
                        .to_device(device)
                };
                let out = mlm.forward(
                    &t(&b.input_ids),
                    &t(&b.attention_mask),
                    &t(&b.labels),
                    false,
                );
                loss_sum += out.loss.to_kind(Kind::Double).double_value(&[]) * out.predicted as f64;
                predicted += out.predicted;
                correct += out.correct;
            }
        });
        (predicted > 0).then(|| {
            let loss = loss_sum / predicted as f64;
            MlmScores {
                loss,
                perplexity: loss.exp(),
                accuracy: correct as f64 / predicted as f64,
                predicted,
            }
        })
    }
}
