//! Turns `ner-data`'s flat batches into tch tensors on the training device.

use ner_data::Batch;
use tch::{Device, Kind, Tensor};

/// One batch on the device: token inputs [B, T] and unit-level tag data [B, L].
pub struct BatchTensors {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
    pub tag_positions: Tensor,
    pub tag_mask: Tensor,
    pub tags: Tensor,
}

impl BatchTensors {
    pub fn new(batch: &Batch, device: Device) -> Self {
        let (b, t, l) = (
            batch.batch_size as i64,
            batch.seq_len as i64,
            batch.tag_len as i64,
        );
        let to = |v: &[i64], cols: i64| Tensor::from_slice(v).view([b, cols]).to_device(device);
        let tag_mask: Vec<u8> = batch.tag_mask.iter().map(|&m| u8::from(m)).collect();
        Self {
            input_ids: to(&batch.input_ids, t),
            attention_mask: to(&batch.attention_mask, t),
            tag_positions: to(&batch.tag_positions, l),
            tag_mask: Tensor::from_slice(&tag_mask)
                .view([b, l])
                .to_kind(Kind::Bool)
                .to_device(device),
            tags: to(&batch.tags, l),
        }
    }
}
