//! Before pre-training: the text counted in one streaming pass (which also finds bad input before
//! any step is spent), the held-out sequences evaluation scores, and the step count and schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::info;

use super::held_out::HeldOut;
use super::{PretrainConfig, PretrainData};
use crate::error::TrainError;
use crate::schedule::LinearSchedule;

/// Held out of the training text for evaluation when there is no `validation` channel: this many
/// sequences at most, and at most 1 in 20.
pub(super) const HELD_OUT_MAX: usize = 256;

/// The run's shape, the same on every replica.
pub(super) struct PretrainPlan {
    /// Sequences of the training text held out (the first ones), 0 with a `validation` channel.
    pub held_out_of_train: u64,
    /// Sequences one pass trains on.
    pub sequences_per_pass: u64,
    /// Sequences of one global micro-batch: `train_batch_size` × replicas.
    pub global_micro_batch: usize,
    pub accumulation: usize,
    pub total_steps: usize,
    pub schedule: LinearSchedule,
    pub world_size: usize,
    pub held_out: HeldOut,
}

impl PretrainPlan {
    /// `None` when SIGTERM arrives while counting.
    pub fn new(
        data: &PretrainData,
        cfg: &PretrainConfig,
        world_size: usize,
        stop: &AtomicBool,
    ) -> Result<Option<Self>, TrainError> {
        let started = Instant::now();
        let mut total = 0u64;
        let mut stream = data.stream(&data.train);
        for sequence in stream.by_ref() {
            sequence?;
            total += 1;
            if total.is_multiple_of(1024) && stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
        }
        let (held_out, held_out_of_train) = match &data.validation {
            Some(files) => (HeldOut::read(files, data, HELD_OUT_MAX * 2)?, 0),
            None => {
                let n = (total / 20).min(HELD_OUT_MAX as u64);
                (HeldOut::read(&data.train, data, n as usize)?, n)
            }
        };
        let sequences_per_pass = total - held_out_of_train;
        info!(
            "pre-training text: {total} sequences of up to {} pieces (counted in {:.1} s); evaluation on \
             {} held-out sequences ({})",
            data.max_seq_length,
            started.elapsed().as_secs_f64(),
            held_out.len(),
            if data.validation.is_some() {
                "the first of the validation channel"
            } else {
                "the first of the training text, not trained on"
            }
        );
        let t = &cfg.train;
        let global_micro_batch = t.train_batch_size.max(1) * world_size.max(1);
        let accumulation = t.gradient_accumulation_steps.max(1);
        let micro_per_pass = sequences_per_pass.div_ceil(global_micro_batch as u64);
        let steps_per_pass = micro_per_pass.div_ceil(accumulation as u64).max(1) as usize;
        let total_steps = if t.max_steps > 0 {
            t.max_steps
        } else {
            ((t.num_train_epochs * steps_per_pass as f64).ceil() as usize).max(1)
        };
        Ok(Some(PretrainPlan {
            held_out_of_train,
            sequences_per_pass,
            global_micro_batch,
            accumulation,
            total_steps,
            schedule: LinearSchedule::new(total_steps, t.warmup_proportion),
            world_size,
            held_out,
        }))
    }
}
