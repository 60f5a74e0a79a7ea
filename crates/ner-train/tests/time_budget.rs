//! `max_train_seconds`: training ends at the first step boundary past the budget, as a finished run
//! (evaluated, best model saved), and the seconds already spent survive a restart.

mod common;

use std::sync::atomic::AtomicBool;

use common::{run, setup};
use ner_train::Outcome;
use ner_train::Progress;

#[test]
fn the_budget_ends_training_with_an_evaluated_saved_model() {
    let mut s = setup();
    s.cfg.train.max_steps = 1000;
    s.cfg.train.eval_steps = 0;
    // Any step takes longer than this: the budget is spent after the first one.
    s.cfg.train.max_train_seconds = 1e-6;
    let dir = tempfile::tempdir().unwrap();

    let summary = run(&s, dir.path(), &AtomicBool::new(false));
    assert_eq!(summary.outcome, Outcome::Finished);
    assert!(summary.time_budget_reached);
    assert_eq!(summary.global_step, 1, "stopped at the first step boundary");
    let steps: Vec<u64> = summary
        .history
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1], "the last weights are evaluated once");
    assert_eq!(summary.best_step, Some(1));
    assert_eq!(summary.saved_model_epoch_and_step(), (1, 1));
    assert!(dir.path().join("model/model.safetensors").exists());
    assert!(summary.train_seconds > 0.0);
}

#[test]
fn seconds_spent_before_a_restart_count_against_the_budget() {
    let mut s = setup();
    s.cfg.train.max_steps = 1000;
    s.cfg.train.eval_steps = 0;
    s.cfg.train.save_checkpoints_steps = 1;
    s.cfg.train.max_train_seconds = 1e-6;
    let dir = tempfile::tempdir().unwrap();

    let first = run(&s, dir.path(), &AtomicBool::new(false));
    assert_eq!(first.global_step, 1);
    let state: Progress = serde_json::from_slice(
        &std::fs::read(dir.path().join("checkpoints/step-000000001/state.json")).unwrap(),
    )
    .unwrap();
    assert!(
        state.train_seconds > 0.0,
        "the checkpoint records the time spent"
    );

    // A spot restart: the budget is already spent, so no further step is taken.
    let second = run(&s, dir.path(), &AtomicBool::new(false));
    assert!(second.resumed_from.is_some());
    assert!(second.time_budget_reached);
    assert_eq!(second.global_step, 1);
    assert!(second.train_seconds >= state.train_seconds);

    // Without a budget the same restart trains on.
    s.cfg.train.max_train_seconds = 0.0;
    s.cfg.train.max_steps = 3;
    let third = run(&s, dir.path(), &AtomicBool::new(false));
    assert!(!third.time_budget_reached);
    assert_eq!(third.global_step, 3);
}
