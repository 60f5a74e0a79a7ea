//! The trainer's side of data parallelism, with DDP's semantics: every replica starts from rank 0's
//! state, takes a distinct contiguous shard of each global batch, and contributes its share of the
//! global batch's mean loss, so that the summed gradients are the gradients of the global batch (the
//! sample-weighted average of the replicas' gradients: their plain average when shards are equal).
//! Decisions (stop, time budget) are agreed every step so that every rank leaves the loop at the same
//! step, and evaluation is sharded by batch and its predictions summed so that every rank scores the
//! whole set exactly as one process would. With [`Replicas::Single`] every method is the identity.

use ner_dist::{ProcessGroup, DEFAULT_BUCKET_BYTES};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::adamw::AdamW;
use crate::checkpoint::Progress;
use crate::error::TrainError;

/// One process, or this process's place in a group of replicas.
#[derive(Clone, Copy)]
pub enum Replicas<'a> {
    Single,
    /// The group, and the device its collectives' tensors live on (NCCL needs CUDA tensors).
    Group(&'a ProcessGroup, Device),
}

impl Replicas<'_> {
    pub fn rank(&self) -> usize {
        match self {
            Replicas::Single => 0,
            Replicas::Group(g, _) => g.rank(),
        }
    }

    pub fn world_size(&self) -> usize {
        match self {
            Replicas::Single => 1,
            Replicas::Group(g, _) => g.world_size(),
        }
    }

    /// This rank's part of a global batch: contiguous, sizes differing by at most one.
    pub fn shard<'b>(&self, global: &'b [usize]) -> &'b [usize] {
        &global[shard_range(global.len(), self.world_size(), self.rank())]
    }

    /// The weight of a shard's mean loss in its global batch's mean loss: its share of the batch, so
    /// that the replicas' summed gradients are the global batch's (not each shard weighted 1).
    pub fn share(shard_len: usize, global_len: usize) -> f64 {
        shard_len as f64 / global_len as f64
    }

    /// Rank 0's weights, optimiser state and progress, on every rank.
    pub fn sync_start(
        &self,
        vs: &VarStore,
        opt: &mut AdamW,
        progress: &mut Progress,
    ) -> Result<(), TrainError> {
        let Replicas::Group(g, device) = *self else {
            return Ok(());
        };
        let mut tensors = sorted_vars(vs);
        tensors.extend(opt.moments());
        g.broadcast_all(&mut tensors, 0, DEFAULT_BUCKET_BYTES)?;
        let mut step = Tensor::from_slice(&[opt.step_count()]).to_device(device);
        g.broadcast(&mut step, 0)?;
        opt.set_step_count(i64::try_from(&step).map_err(ner_dist::DistError::from)?);
        *progress = broadcast_json(g, device, progress)?;
        Ok(())
    }

    /// Rank 0's values of `vs`'s variables, on every rank.
    pub fn broadcast_vars(&self, vs: &VarStore) -> Result<(), TrainError> {
        let Replicas::Group(g, _) = *self else {
            return Ok(());
        };
        g.broadcast_all(&mut sorted_vars(vs), 0, DEFAULT_BUCKET_BYTES)?;
        Ok(())
    }

    /// Sums the replicas' gradient contributions (see the module's doc) into every replica's
    /// gradients. A parameter no micro-batch reached on this rank contributes zeros.
    pub fn reduce_grads(&self, opt: &mut AdamW) -> Result<(), TrainError> {
        let Replicas::Group(g, _) = *self else {
            return Ok(());
        };
        opt.define_missing_grads();
        let mut grads = opt.grads();
        g.all_reduce_sum_all(&mut grads, DEFAULT_BUCKET_BYTES)?;
        Ok(())
    }

    /// True on every rank when `local` is true on any.
    pub fn any(&self, local: bool) -> Result<bool, TrainError> {
        Ok(self.any_of([local])?[0])
    }

    /// Each flag true on every rank when it is true on any, in one message.
    pub fn any_of<const N: usize>(&self, local: [bool; N]) -> Result<[bool; N], TrainError> {
        let Replicas::Group(g, device) = *self else {
            return Ok(local);
        };
        let mut t = Tensor::from_slice(&local.map(i64::from)).to_device(device);
        g.all_reduce_max(&mut t)?;
        let agreed = Vec::<i64>::try_from(&t).map_err(ner_dist::DistError::from)?;
        Ok(std::array::from_fn(|i| agreed[i] > 0))
    }

    /// Element-wise sums over the ranks.
    pub fn sum_f64(&self, values: &mut [f64]) -> Result<(), TrainError> {
        let Replicas::Group(g, device) = *self else {
            return Ok(());
        };
        let mut t = Tensor::from_slice(values).to_device(device);
        g.all_reduce_sum(&mut t)?;
        values.copy_from_slice(&Vec::<f64>::try_from(&t).map_err(ner_dist::DistError::from)?);
        Ok(())
    }

    /// Every rank's decoded unit tags merged: each feature was decoded by exactly one rank and is
    /// empty elsewhere, so the element-wise sum of the padded rows is the decoding.
    pub fn merge_unit_tags(
        &self,
        per_feature: &mut [Vec<i64>],
        lengths: &[usize],
    ) -> Result<(), TrainError> {
        let Replicas::Group(g, device) = *self else {
            return Ok(());
        };
        let total: usize = lengths.iter().sum();
        let mut flat = vec![0i64; total];
        let mut offset = 0;
        for (tags, &len) in per_feature.iter().zip(lengths) {
            flat[offset..offset + tags.len()].copy_from_slice(tags);
            offset += len;
        }
        let mut t = Tensor::from_slice(&flat).to_device(device);
        g.all_reduce_sum(&mut t)?;
        let merged = Vec::<i64>::try_from(&t).map_err(ner_dist::DistError::from)?;
        let mut offset = 0;
        for (tags, &len) in per_feature.iter_mut().zip(lengths) {
            *tags = merged[offset..offset + len].to_vec();
            offset += len;
        }
        Ok(())
    }
}

/// `vs`'s variables in name order, the same on every rank.
fn sorted_vars(vs: &VarStore) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Rank `rank`'s slice of `n` items split `world` ways.
fn shard_range(n: usize, world: usize, rank: usize) -> std::ops::Range<usize> {
    rank * n / world..(rank + 1) * n / world
}

/// Rank 0's `value` on every rank, through its JSON bytes.
fn broadcast_json<T: serde::Serialize + serde::de::DeserializeOwned>(
    g: &ProcessGroup,
    device: Device,
    value: &T,
) -> Result<T, TrainError> {
    let bytes = serde_json::to_vec(value).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
    let mut len = Tensor::from_slice(&[bytes.len() as i64]).to_device(device);
    g.broadcast(&mut len, 0)?;
    let len = i64::try_from(&len).map_err(ner_dist::DistError::from)? as usize;
    let mut buf = if g.rank() == 0 {
        Tensor::from_slice(&bytes).to_device(device)
    } else {
        Tensor::zeros([len as i64], (Kind::Uint8, device))
    };
    g.broadcast(&mut buf, 0)?;
    let received = Vec::<u8>::try_from(&buf).map_err(ner_dist::DistError::from)?;
    serde_json::from_slice(&received)
        .map_err(|e| TrainError::Checkpoint(format!("progress from rank 0: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{shard_range, Replicas};

    #[test]
    fn a_single_process_takes_the_whole_batch() {
        assert_eq!(Replicas::Single.shard(&[4, 5, 6]), &[4, 5, 6]);
    }

    #[test]
    fn shards_partition_the_batch_in_order_and_differ_by_at_most_one() {
        for n in 0..20 {
            for world in 1..6 {
                let ranges: Vec<_> = (0..world).map(|r| shard_range(n, world, r)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[world - 1].end, n);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(
                    sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                    "{sizes:?}"
                );
            }
        }
    }
}
