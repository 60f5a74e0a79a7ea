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

#[test]
fn chunked_input_gives_the_output_of_one_chunk_in_order() {
    let job = trained();
    let input = common::sample_test_sentences()[..60].join("\n") + "\n";
    // Scores differ in the last bits with the batch's padding; everything else is identical.
    let parse = |jsonl: String| -> Vec<serde_json::Value> {
        jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let same_but_scores = |a: &[serde_json::Value], b: &[serde_json::Value]| {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x["text"], y["text"]);
            let (ex, ey) = (
                x["entities"].as_array().unwrap(),
                y["entities"].as_array().unwrap(),
            );
            assert_eq!(ex.len(), ey.len(), "{x} vs {y}");
            for (e, f) in ex.iter().zip(ey) {
                for key in ["text", "type", "start", "end"] {
                    assert_eq!(e[key], f[key], "{x} vs {y}");
                }
                let (s, t) = (e["score"].as_f64().unwrap(), f["score"].as_f64().unwrap());
                assert!((s - t).abs() <= 1e-4, "{x} vs {y}");
            }
        }
    };
    // fp32: int8 (what `auto` picks on a CPU) quantizes each forward pass's input with that pass's
    // own range, so other chunks (other batches) can move its tags slightly.
    let whole = ["--precision", "fp32"];
    let whole_bio = predict(&job, "bio", &input, &whole);
    let tagged = whole_bio.lines().filter(|l| l.ends_with(" O")).count();
    let entities = whole_bio.lines().filter(|l| l.contains(" B-")).count();
    assert!(
        entities >= 10 && tagged > 0,
        "the model tags entities ({entities} B- tags), so a misplaced tag would show"
    );
    let whole_jsonl = parse(predict(&job, "jsonl", &input, &whole));
    assert_eq!(whole_jsonl.len(), 60);
    for chunk in ["7", "1"] {
        let args = ["--chunk-lines", chunk, "--precision", "fp32"];
        assert_eq!(
            predict(&job, "bio", &input, &args),
            whole_bio,
            "chunks of {chunk}"
        );
        same_but_scores(&parse(predict(&job, "jsonl", &input, &args)), &whole_jsonl);
    }
    // A blank line in a later chunk is named by its line in the whole input.
    let with_blank = format!(
        "{}\n\n{}\n",
        common::sample_test_sentences()[..8].join("\n"),
        "张三"
    );
    let o = run_predict(&job, "bio", &with_blank, &["--chunk-lines", "3"]);
    check(&o, !o.status.success(), "refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("<stdin>:9: the line is blank"), "{err}");
}

/// Runs `predict` on `input` (a file), output discarded, and returns its peak RSS in bytes and stderr.
// The child is reaped by wait4(2), which also gives its rusage; `Child::wait` would not.
#[allow(clippy::zombie_processes)]
fn peak_rss_of_predict(job: &Job, input: &std::path::Path, extra: &[&str]) -> (u64, String) {
    use std::os::unix::process::ExitStatusExt;
    let stderr_path = input.with_extension("stderr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_predict"))
        .arg("--model-dir")
        .arg(job.base().join("model"))
        .arg("--input")
        .arg(input)
        .args(["--device", "cpu"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "predict failed: {status:?}\n{stderr}");
    (usage.ru_maxrss as u64 * 1024, stderr)
}

#[test]
fn peak_memory_does_not_grow_with_the_input_and_long_runs_show_progress() {
    let job = trained();
    let text = common::sample_test_sentences().join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, mb: usize| {
        let path = dir.path().join(name);
        let copies = (mb << 20).div_ceil(text.len());
        std::fs::write(&path, text.repeat(copies)).unwrap();
        path
    };
    let small = write("small.txt", 1);
    let large = write("large.txt", 5);
    let (rss_small, _) = peak_rss_of_predict(&job, &small, &[]);
    let (rss_large, progress) = peak_rss_of_predict(&job, &large, &["--progress-seconds", "0.2"]);
    let mb = |b: u64| b as f64 / 1e6;
    eprintln!(
        "peak RSS: 1 MB input {:.0} MB, 5 MB input {:.0} MB",
        mb(rss_small),
        mb(rss_large)
    );
    // Holding the input and its results whole costs ~80 MB per MB of text: +320 MB here.
    assert!(
        rss_large < rss_small + 40_000_000,
        "peak RSS grew from {:.0} MB to {:.0} MB with 4 MB more input",
        mb(rss_small),
        mb(rss_large)
    );
    let lines: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("predict: "))
        .collect();
    assert!(lines.len() >= 2, "progress lines on stderr:\n{progress}");
    let percents: Vec<f64> = lines
        .iter()
        .map(|l| {
            assert!(l.contains(" MB (") && l.contains("ETA "), "{l}");
            let p = l.split(" MB (").nth(1).unwrap().split('%').next().unwrap();
            p.parse().unwrap()
        })
        .collect();
    // Lines are at least a chunk (~6 % of the file) apart.
    assert!(
        percents.windows(2).all(|w| w[0] < w[1]) && percents[0] < 100.0,
        "progress moves forward: {percents:?}"
    );
}
