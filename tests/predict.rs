//! `predict` on a model trained by `train`: every input character gets a tag, long lines are windowed,
//! and the two output formats agree.

mod common;

use common::{check, Job};

fn trained() -> Job {
    common::trained_micro_tagger("2")
}

fn predict(job: &Job, format: &str, input: &str, extra: &[&str]) -> String {
    let o = run_predict(job, format, input, extra);
    check(&o, o.status.success(), "predict");
    String::from_utf8(o.stdout).unwrap()
}

fn run_predict(job: &Job, format: &str, input: &str, extra: &[&str]) -> std::process::Output {
    let args: Vec<&str> = ["--format", format].iter().chain(extra).copied().collect();
    common::run_predict(&job.base().join("model"), &args, input)
}

#[test]
fn every_character_gets_a_tag_and_long_lines_are_not_truncated() {
    let job = trained();
    let long: String = "北京大学的王小明在上海参加了联合国教科文组织举办的会议。".repeat(12);
    let input = format!("{long}\nApple iPhone 15 发布于 2023 年，售价 ５９９９ 元！\n");
    let bio = predict(
        &job,
        "bio",
        &input,
        &["--max-seq-length", "32", "--window-stride", "8"],
    );
    let sentences: Vec<&str> = bio.split("\n\n").collect();
    let lines: Vec<Vec<&str>> = sentences.iter().map(|s| s.lines().collect()).collect();
    let inputs: Vec<&str> = input.lines().collect();
    assert_eq!(
        lines.len() - 1,
        inputs.len(),
        "one block per input line (the last block is empty)"
    );
    for (block, text) in lines.iter().zip(&inputs) {
        assert_eq!(
            block.len(),
            text.chars().count(),
            "one tag per character of {text:?}"
        );
        for (line, c) in block.iter().zip(text.chars()) {
            let (ch, tag) = line.rsplit_once(' ').unwrap();
            assert_eq!(ch.chars().collect::<Vec<_>>(), vec![c], "{line:?}");
            assert!(
                tag == "O" || tag.starts_with("B-") || tag.starts_with("I-"),
                "{line:?}"
            );
        }
    }
}

#[test]
fn jsonl_entities_match_the_bio_tags() {
    let job = trained();
    let input = "中国人民银行行长易纲在北京表示。\n\n张三去了上海。\n";
    let bio = predict(&job, "bio", &input.replace("\n\n", "\n"), &[]);
    let jsonl = predict(&job, "jsonl", input, &[]);
    let lines: Vec<&str> = jsonl.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one JSON line per input line, empty ones included"
    );
    assert_eq!(lines[1], r#"{"entities":[],"text":""}"#);
    let blocks = bio.split("\n\n").filter(|b| !b.trim().is_empty());
    for (block, line) in blocks.zip([lines[0], lines[2]]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text: Vec<char> = v["text"].as_str().unwrap().chars().collect();
        let tags: Vec<String> = block
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect();
        let mut starts = Vec::new();
        for e in v["entities"].as_array().unwrap() {
            let (s, t) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                e["text"].as_str().unwrap(),
                text[s..t].iter().collect::<String>()
            );
            assert!(tags[s].ends_with(e["type"].as_str().unwrap()));
            starts.push(s);
        }
        let b_count = tags.iter().filter(|t| t.starts_with("B-")).count();
        assert!(starts.len() >= b_count, "every B- starts an entity");
    }
}

#[test]
fn settings_train_refuses_and_blank_lines_in_bio_output_are_refused() {
    let job = trained();
    let refused = |format: &str, input: &str, extra: &[&str], says: &str| {
        let o = run_predict(&job, format, input, extra);
        check(&o, !o.status.success(), "refused");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains(says), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    refused("bio", "张三\n", &["--batch-size", "0"], "--batch-size 0");
    refused(
        "bio",
        "张三\n",
        &["--max-seq-length", "32", "--window-stride", "40"],
        "--window-stride 40",
    );
    // A blank or whitespace-only line has no block of its own in `char TAG` output.
    refused(
        "bio",
        "张三\n  \n李四\n",
        &[],
        "<stdin>:2: the line is blank",
    );
    refused("bio", "张三\n\n李四\n", &[], "<stdin>:2:");
    // JSON lines keep every line in its place, whitespace-only ones included.
    let jsonl = predict(&job, "jsonl", "张三\n \u{3000}\n李四\n", &[]);
    let texts: Vec<String> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, ["张三", " \u{3000}", "李四"]);
}

#[test]
fn a_model_too_large_for_memory_is_refused_before_loading() {
    let job = trained();
    let config = job.base().join("model/config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    value["hidden_size"] = 1_200_000.into();
    std::fs::write(&config, value.to_string()).unwrap();
    let o = run_predict(&job, "jsonl", "张三\n", &[]);
    check(&o, !o.status.success(), "refused");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("config.json") && err.contains("too large for this machine"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
