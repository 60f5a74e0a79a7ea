//! What a run will do before it starts: batches per epoch, optimiser steps, the learning-rate schedule.

use ner_data::Batcher;
use tracing::info;

use super::TrainConfig;
use crate::schedule::LinearSchedule;
use ner_infer::Prepared;

/// The fixed shape of a training run, derived from the data and the settings.
pub(super) struct Plan {
    /// Global batches: `train_batch_size` × the world size, each then split among the replicas.
    pub batcher: Batcher,
    pub world_size: usize,
    pub batches_per_epoch: usize,
    /// Micro-batches per optimiser step.
    pub accumulation: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub schedule: LinearSchedule,
}

impl Plan {
    pub fn new(train: &Prepared, cfg: &TrainConfig, world_size: usize) -> Self {
        let accumulation = cfg.train.gradient_accumulation_steps.max(1);
        let global_batch = cfg.train.train_batch_size.max(1) * world_size.max(1);
        let batcher = Batcher::new(&train.features, global_batch);
        let batches_per_epoch = batcher.num_batches();
        let steps_per_epoch = batches_per_epoch.div_ceil(accumulation);
        let total_steps = if cfg.train.max_steps > 0 {
            cfg.train.max_steps
        } else {
            ((cfg.train.num_train_epochs * steps_per_epoch as f64).ceil() as usize).max(1)
        };
        Self {
            batcher,
            world_size: world_size.max(1),
            batches_per_epoch,
            accumulation,
            steps_per_epoch,
            total_steps,
            schedule: LinearSchedule::new(total_steps, cfg.train.warmup_proportion),
        }
    }

    /// The run's opening log line.
    pub fn log_start(&self, train: &Prepared, cfg: &TrainConfig) {
        let sentences = train
            .features
            .iter()
            .map(|f| f.sentence)
            .max()
            .map_or(0, |m| m + 1);
        let batch = if self.world_size > 1 {
            format!(
                "global batch {} (train_batch_size {} per process × world size {})",
                cfg.train.train_batch_size * self.world_size,
                cfg.train.train_batch_size,
                self.world_size
            )
        } else {
            format!("batch {}", cfg.train.train_batch_size)
        };
        info!(
            "training: {} sentences → {} windows, {} batches/epoch, {} optimiser steps ({} epochs), \
             {batch} × accumulation {}, precision {:?}, device {:?}",
            sentences,
            train.features.len(),
            self.batches_per_epoch,
            self.total_steps,
            self.total_steps.div_ceil(self.steps_per_epoch.max(1)),
            self.accumulation,
            cfg.precision,
            cfg.device
        );
    }
}
