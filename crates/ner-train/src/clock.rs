//! A run's training time, counted across the runs it resumes: what `max_train_seconds` and the ETA
//! are measured against, for fine-tuning and pre-training alike.

use std::time::Instant;

use crate::checkpoint::Progress;

/// Started when a run starts, from where its checkpoint's time left off.
pub(crate) struct Clock {
    started: Instant,
    seconds_before: f64,
    steps_before: usize,
    /// `max_train_seconds` (0: no limit).
    budget: f64,
}

impl Clock {
    pub fn start(progress: &Progress, budget: f64) -> Self {
        Clock {
            started: Instant::now(),
            seconds_before: progress.train_seconds,
            steps_before: progress.global_step,
            budget,
        }
    }

    /// Records the time so far in `progress` (what a checkpoint saves).
    pub fn update(&self, progress: &mut Progress) {
        progress.train_seconds = self.seconds_before + self.started.elapsed().as_secs_f64();
    }

    /// Seconds to step `total_steps` at this run's pace so far, or to the budget's end if sooner.
    pub fn eta_seconds(&self, progress: &Progress, total_steps: usize) -> f64 {
        let step = progress.global_step;
        let done = step.saturating_sub(self.steps_before).max(1);
        let per_step = self.started.elapsed().as_secs_f64() / done as f64;
        let eta = per_step * total_steps.saturating_sub(step) as f64;
        if self.budget > 0.0 {
            eta.min((self.budget - progress.train_seconds).max(0.0))
        } else {
            eta
        }
    }

    /// Whether `progress` (as last updated) has used up the budget.
    pub fn out_of_time(&self, progress: &Progress) -> bool {
        self.budget > 0.0 && progress.train_seconds >= self.budget
    }
}
