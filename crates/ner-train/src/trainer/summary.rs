//! The closing summary of a run, from where training stands.

use std::path::PathBuf;

use super::{Outcome, TrainSummary};
use crate::checkpoint::Progress;

/// The 1-based epoch the validation record of `step` names.
fn recorded_epoch(history: &[serde_json::Value], step: usize) -> Option<usize> {
    history
        .iter()
        .find(|r| r["step"].as_u64() == Some(step as u64))
        .and_then(|r| r["epoch"].as_u64())
        .map(|e| e as usize)
}

pub(super) fn summary(
    outcome: Outcome,
    p: Progress,
    resumed_from: Option<PathBuf>,
    time_budget_reached: bool,
) -> TrainSummary {
    TrainSummary {
        outcome,
        global_step: p.global_step,
        best_f1: p.best_f1,
        best_step: p.best_step,
        best_epoch: p
            .best_step
            .and_then(|step| recorded_epoch(&p.history, step)),
        last_epoch: if p.global_step == 0 {
            0
        } else {
            p.epoch_of_last_step() + 1
        },
        history: p.history,
        resumed_from,
        train_seconds: p.train_seconds,
        time_budget_reached,
    }
}
