//! SIGTERM that lands while the model is being evaluated: the evaluation gives up at the next batch,
//! a checkpoint records that it is owed, and the resumed run evaluates those weights before training on.

mod common;

use std::sync::atomic::AtomicBool;

use albert_model::NerTagger;
use common::{run, setup};
use ner_train::score;
use ner_train::Progress;
use ner_train::{Outcome, Replicas};
use tch::nn::VarStore;
use tch::Device;

#[test]
fn an_interrupted_evaluation_is_owed_and_done_first_on_resume() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();

    // Raised before the first evaluation (after step 1) starts: it must give up, not score.
    let summary = run(&s, dir.path(), &AtomicBool::new(true));
    let Outcome::Stopped {
        checkpoint: Some(ckpt),
    } = &summary.outcome
    else {
        panic!(
            "expected a stop with a checkpoint, got {:?}",
            summary.outcome
        );
    };
    assert_eq!(summary.global_step, 1);
    assert!(summary.history.is_empty(), "no evaluation was completed");
    assert!(
        !dir.path().join("model/model.safetensors").exists(),
        "an interrupted evaluation saves no 'best' model"
    );
    let state: Progress =
        serde_json::from_slice(&std::fs::read(ckpt.join("state.json")).unwrap()).unwrap();
    assert!(
        state.pending_eval,
        "the checkpoint records the owed evaluation"
    );

    // Resumed: step 1's evaluation comes first, then steps 2 and 3 each get theirs.
    let summary = run(&s, dir.path(), &AtomicBool::new(false));
    assert_eq!(summary.outcome, Outcome::Finished);
    let steps: Vec<u64> = summary
        .history
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3]);
    assert!(dir.path().join("model/model.safetensors").exists());
}

#[test]
fn scoring_gives_up_when_stop_is_raised() {
    let s = setup();
    let vs = VarStore::new(Device::Cpu);
    let tagger = NerTagger::new(&vs.root(), &s.spec);
    let scored = score(
        &tagger,
        &s.labels,
        &s.valid,
        &s.cfg,
        &AtomicBool::new(false),
        Replicas::Single,
    )
    .unwrap()
    .expect("not stopped");
    assert_eq!(scored.char_tags.len(), s.valid.sentences.len());
    let stop = AtomicBool::new(true);
    let stopped = score(
        &tagger,
        &s.labels,
        &s.valid,
        &s.cfg,
        &stop,
        Replicas::Single,
    )
    .unwrap();
    assert!(stopped.is_none());
}
