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

#[cfg(test)]
mod tests {
    use super::*;

    fn resumed_at(step: usize, seconds: f64) -> Progress {
        Progress {
            global_step: step,
            train_seconds: seconds,
            ..Progress::default()
        }
    }

    #[test]
    fn a_resumed_run_counts_the_time_before_it_against_the_budget() {
        let mut progress = resumed_at(100, 50.0);
        let clock = Clock::start(&progress, 60.0);
        clock.update(&mut progress);
        assert!((50.0..51.0).contains(&progress.train_seconds));
        assert!(!clock.out_of_time(&progress));
        // 10 s of budget left: the ETA is at most that, however many steps remain.
        progress.global_step = 101;
        assert!(clock.eta_seconds(&progress, 1_000_000) <= 10.0);
        progress.train_seconds = 60.0;
        assert!(clock.out_of_time(&progress));
        assert_eq!(clock.eta_seconds(&progress, 1_000_000), 0.0);
    }

    #[test]
    fn the_pace_is_this_runs_and_no_budget_is_no_limit() {
        let mut progress = resumed_at(100, 1e6);
        let clock = Clock::start(&progress, 0.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        progress.global_step = 102;
        clock.update(&mut progress);
        assert!(!clock.out_of_time(&progress));
        // Two steps in ≥ 20 ms: 98 more take ≥ 0.98 s (counting the 100 steps before this run as done
        // in this run's time would make it ~50× less).
        let eta = clock.eta_seconds(&progress, 200);
        assert!((0.98..30.0).contains(&eta), "{eta}");
        assert_eq!(clock.eta_seconds(&resumed_at(300, 0.0), 200), 0.0);
    }
}
