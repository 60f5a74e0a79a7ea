//! Entity scores agree exactly with the project's reference evaluator
//! (`shared/bench/peers/ner_eval.py`, stdlib Python, conlleval semantics) on real data: MSRA test as
//! gold and a deterministically corrupted copy as prediction.
//!
//! Needs `shared/`, which a user's clone does not have: set `ALBERT_NER_SHARED` to its path. Unset,
//! the test prints a notice and passes (fails where `ALBERT_NER_REQUIRE_SHARED` is set, as in CI); set
//! but with files missing, it fails.

mod common;

use std::process::Command;

use ner_data::{chunks, entity_scores, read_file, DataFormat, EntityScores};

/// A tiny deterministic generator, so the corruption is the same on every machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Drops, shifts, stretches, retypes and breaks entities, and adds stray ones, including
/// I- tags without a B- (which conlleval reads as entity starts).
fn corrupt(tags: &[String], types: &[&str], rng: &mut Lcg) -> Vec<String> {
    let mut out = tags.to_vec();
    for c in chunks(tags) {
        let n = out.len();
        match rng.next() % 12 {
            0 => out[c.start..c.end].iter_mut().for_each(|t| *t = "O".into()),
            1 if c.end < n && out[c.end] == "O" => {
                out[c.start] = "O".into();
                out[c.end] = format!("I-{}", c.kind);
                if c.start + 1 < c.end {
                    out[c.start + 1] = format!("B-{}", c.kind);
                }
            }
            2 => {
                let other = types[(rng.next() as usize) % types.len()];
                out[c.start] = format!("B-{other}");
            }
            3 if c.end < n && out[c.end] == "O" => out[c.end] = format!("I-{}", c.kind),
            4 => out[c.start] = format!("I-{}", c.kind),
            5 if c.end - c.start > 1 => out[c.end - 1] = "O".into(),
            _ => {}
        }
    }
    for t in out.iter_mut() {
        if t == "O" && rng.next().is_multiple_of(200) {
            *t = format!("I-{}", types[(rng.next() as usize) % types.len()]);
        }
    }
    out
}

#[test]
fn agrees_with_ner_eval_py_on_msra_test() {
    let Some(shared) = common::shared_dir("the ner_eval.py agreement test") else {
        return;
    };
    let gold_path = shared.join("datasets/msra/test.txt");
    let script = shared.join("bench/peers/ner_eval.py");
    assert!(gold_path.is_file(), "{} missing", gold_path.display());
    assert!(script.is_file(), "{} missing", script.display());

    let (sentences, report) = read_file(&gold_path, DataFormat::CharTag).unwrap();
    assert!(
        report.warnings.is_empty(),
        "gold must be read verbatim: {report}"
    );
    let mut rng = Lcg(20240601);
    let types = ["PER", "LOC", "ORG"];
    let gold: Vec<Vec<String>> = sentences.iter().map(|s| s.tags.clone()).collect();
    let pred: Vec<Vec<String>> = gold.iter().map(|g| corrupt(g, &types, &mut rng)).collect();

    let dir = tempfile::tempdir().unwrap();
    let pred_path = dir.path().join("pred.txt");
    let mut text = String::new();
    for (s, p) in sentences.iter().zip(&pred) {
        for (c, t) in s.chars.iter().zip(p) {
            text.push(*c);
            text.push(' ');
            text.push_str(t);
            text.push('\n');
        }
        text.push('\n');
    }
    std::fs::write(&pred_path, text).unwrap();

    let out = Command::new("python3")
        .arg(&script)
        .arg(&gold_path)
        .arg(&pred_path)
        .arg("--json")
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: EntityScores = serde_json::from_slice(&out.stdout).unwrap();
    let ours = entity_scores(&gold, &pred);
    assert!(
        ours.micro.gold > 5_000 && ours.micro.correct < ours.micro.gold,
        "{:?}",
        ours.micro
    );
    assert_eq!(ours, theirs, "all counts and ratios must agree exactly");
}
