//! Batching. Training batches are length-bucketed (features of similar length padded together, so
//! little compute goes to padding) yet shuffled, and are a pure function of `(seed, epoch)` so the
//! trainer can resume mid-epoch from `(epoch, batch index)` by recomputing the same plan.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::window::Feature;

/// Flat, padded vectors ready to become tensors (`[B, T]` and `[B, L]`, row-major).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// `[B, T]`, padded with 0 (`[PAD]`).
    pub input_ids: Vec<i64>,
    /// `[B, T]`, 1 for real pieces.
    pub attention_mask: Vec<i64>,
    /// `[B, L]`, position in `input_ids` of each unit's first piece; 0 where padded.
    pub tag_positions: Vec<i64>,
    /// `[B, L]`, true for real units.
    pub tag_mask: Vec<bool>,
    /// `[B, L]`, gold label ids; 0 where padded.
    pub tags: Vec<i64>,
    pub batch_size: usize,
    /// T: the longest `input_ids` in the batch.
    pub seq_len: usize,
    /// L: the most units in the batch.
    pub tag_len: usize,
    /// Indices into the feature slice, row by row.
    pub features: Vec<usize>,
}

/// Pads the features at `indices` into one batch.
pub fn collate(features: &[Feature], indices: &[usize]) -> Batch {
    let b = indices.len();
    let t = indices
        .iter()
        .map(|&i| features[i].input_ids.len())
        .max()
        .unwrap_or(0);
    let l = indices
        .iter()
        .map(|&i| features[i].tag_positions.len())
        .max()
        .unwrap_or(0);
    let mut batch = Batch {
        input_ids: vec![0; b * t],
        attention_mask: vec![0; b * t],
        tag_positions: vec![0; b * l],
        tag_mask: vec![false; b * l],
        tags: vec![0; b * l],
        batch_size: b,
        seq_len: t,
        tag_len: l,
        features: indices.to_vec(),
    };
    for (row, &i) in indices.iter().enumerate() {
        let f = &features[i];
        let n = f.input_ids.len();
        batch.input_ids[row * t..row * t + n].copy_from_slice(&f.input_ids);
        batch.attention_mask[row * t..row * t + n].fill(1);
        let m = f.tag_positions.len();
        batch.tag_positions[row * l..row * l + m].copy_from_slice(&f.tag_positions);
        batch.tag_mask[row * l..row * l + m].fill(true);
        batch.tags[row * l..row * l + m].copy_from_slice(&f.tags);
    }
    batch
}

/// Plans batches over a fixed feature list. It holds only lengths, so it is cheap to keep and its
/// plans can be recomputed at any time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Batcher {
    lengths: Vec<usize>,
    batch_size: usize,
    /// Features per bucketing chunk: sorting happens within chunks of this many shuffled
    /// features, so batches are homogeneous in length but epochs still differ.
    chunk_size: usize,
}

impl Batcher {
    /// A batcher for `features` with `batch_size` features per batch and the default chunk of
    /// 100 batches.
    pub fn new(features: &[Feature], batch_size: usize) -> Self {
        Self::with_chunk_size(features, batch_size, batch_size.max(1) * 100)
    }

    /// As [`Batcher::new`] with an explicit bucketing chunk size (in features).
    pub fn with_chunk_size(features: &[Feature], batch_size: usize, chunk_size: usize) -> Self {
        assert!(batch_size > 0, "batch_size must be positive");
        Batcher {
            lengths: features.iter().map(|f| f.input_ids.len()).collect(),
            batch_size,
            chunk_size: chunk_size.max(batch_size),
        }
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch (the last may be smaller).
    pub fn num_batches(&self) -> usize {
        self.lengths.len().div_ceil(self.batch_size)
    }

    /// The training plan of one epoch, a pure function of `(seed, epoch)`: shuffle all features,
    /// sort each chunk by length, cut into batches, shuffle the batch order. Resume at batch `k`
    /// with `epoch(seed, e)[k..]`.
    pub fn epoch(&self, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        rng.set_stream(epoch);
        let mut order: Vec<usize> = (0..self.lengths.len()).collect();
        shuffle(&mut order, &mut rng);
        let mut batches = Vec::with_capacity(self.num_batches());
        for chunk in order.chunks_mut(self.chunk_size) {
            // Stable sort on length keeps the shuffled order among equal lengths.
            chunk.sort_by_key(|&i| self.lengths[i]);
            batches.extend(chunk.chunks(self.batch_size).map(<[usize]>::to_vec));
        }
        shuffle(&mut batches, &mut rng);
        batches
    }

    /// Evaluation batches: features in order, no shuffling, so outputs line up with inputs.
    pub fn eval(&self) -> Vec<Vec<usize>> {
        (0..self.lengths.len())
            .collect::<Vec<_>>()
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

/// Fisher–Yates with our own index draws, so the plan depends only on ChaCha's output stream (which
/// is fixed by its specification) and not on any `rand` version's shuffle algorithm.
fn shuffle<T>(v: &mut [T], rng: &mut ChaCha12Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(n_units: usize) -> Feature {
        Feature {
            sentence: 0,
            input_ids: (0..n_units as i64 + 2).map(|x| x + 100).collect(),
            tag_positions: (1..=n_units as i64).collect(),
            tags: vec![1; n_units],
            unit_offset: 0,
            keep: 0..n_units,
        }
    }

    #[test]
    fn collate_pads() {
        let fs = vec![feat(1), feat(3)];
        let b = collate(&fs, &[0, 1]);
        assert_eq!((b.batch_size, b.seq_len, b.tag_len), (2, 5, 3));
        assert_eq!(b.input_ids, [100, 101, 102, 0, 0, 100, 101, 102, 103, 104]);
        assert_eq!(b.attention_mask, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
        assert_eq!(b.tag_positions, [1, 0, 0, 1, 2, 3]);
        assert_eq!(b.tag_mask, [true, false, false, true, true, true]);
        assert_eq!(b.tags, [1, 0, 0, 1, 1, 1]);
        assert_eq!(b.features, [0, 1]);
    }

    #[test]
    fn epochs_are_deterministic_complete_and_bucketed() {
        let fs: Vec<Feature> = (0..1000).map(|i| feat((i * 7919) % 50 + 1)).collect();
        let b = Batcher::with_chunk_size(&fs, 8, 200);
        let e0 = b.epoch(42, 0);
        assert_eq!(e0, b.epoch(42, 0));
        assert_ne!(e0, b.epoch(42, 1));
        assert_ne!(e0, b.epoch(43, 0));
        assert_eq!(e0.len(), b.num_batches());
        let mut all: Vec<usize> = e0.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        // Bucketing: padding waste is far below that of random batches.
        let waste = |plan: &[Vec<usize>]| -> usize {
            plan.iter()
                .map(|bt| {
                    let m = bt.iter().map(|&i| fs[i].input_ids.len()).max().unwrap();
                    bt.iter().map(|&i| m - fs[i].input_ids.len()).sum::<usize>()
                })
                .sum()
        };
        let random: Vec<Vec<usize>> = (0..1000)
            .collect::<Vec<_>>()
            .chunks(8)
            .map(|c| c.to_vec())
            .collect();
        assert!(
            waste(&e0) * 5 < waste(&random),
            "{} vs {}",
            waste(&e0),
            waste(&random)
        );
        assert_eq!(b.eval()[0], (0..8).collect::<Vec<_>>());
    }
}
