//! The `train:` line every `logging_steps` steps, and its TensorBoard scalars.

use std::time::Instant;

use tracing::info;

use crate::error::TrainError;
use crate::log_line::{format_duration, TrainLine};
use crate::replicas::Replicas;
use crate::tensorboard::EventWriter;

/// Loss and throughput accumulated since the last `train:` line: global figures, the same on every
/// replica (only rank 0 logs them).
pub(crate) struct LogWindow {
    started: Instant,
    samples: usize,
    loss_sum: f64,
    batches: usize,
    allreduce_seconds: f64,
}

/// Where the run stands when a line may be due.
pub(crate) struct StepPoint {
    pub epoch: usize,
    pub step: usize,
    pub total_steps: usize,
    pub lr: f64,
    /// Estimated seconds to the end.
    pub eta_seconds: f64,
}

impl LogWindow {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            samples: 0,
            loss_sum: 0.0,
            batches: 0,
            allreduce_seconds: 0.0,
        }
    }

    /// One global micro-batch's sentences (across every replica).
    pub fn record_samples(&mut self, samples: usize) {
        self.batches += 1;
        self.samples += samples;
    }

    /// Time spent summing gradients across the replicas.
    pub fn record_allreduce(&mut self, seconds: f64) {
        self.allreduce_seconds += seconds;
    }

    /// This replica's part of a global micro-batch's mean loss (the whole of it in one process).
    pub fn record_loss(&mut self, loss_part: f64) {
        self.loss_sum += loss_part;
    }

    /// Logs a line (and its scalars) when `logging_steps` says one is due, then starts a new window.
    pub fn maybe_log(
        &mut self,
        at: &StepPoint,
        logging_steps: usize,
        replicas: Replicas,
        tb: Option<&mut EventWriter>,
    ) -> Result<(), TrainError> {
        let due = logging_steps > 0
            && (at.step.is_multiple_of(logging_steps) || at.step == at.total_steps);
        if !due {
            return Ok(());
        }
        // Every replica reaches this at the same steps; the parts make the global batches' losses.
        let mut loss_sum = [self.loss_sum];
        replicas.sum_f64(&mut loss_sum)?;
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let line = TrainLine {
            epoch: at.epoch + 1,
            step: at.step,
            total_steps: at.total_steps,
            loss: loss_sum[0] / self.batches.max(1) as f64,
            lr: at.lr,
            samples_per_s: self.samples as f64 / elapsed,
            eta: format_duration(at.eta_seconds),
            allreduce_share: (replicas.world_size() > 1).then(|| self.allreduce_seconds / elapsed),
        };
        info!("{line}");
        if let Some(tb) = tb {
            let step = at.step as i64;
            tb.scalar("train/loss", line.loss, step)?;
            tb.scalar("train/learning_rate", line.lr, step)?;
            tb.scalar("train/samples_per_s", line.samples_per_s, step)?;
        }
        *self = Self::new();
        Ok(())
    }
}
