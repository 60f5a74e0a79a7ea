//! `task=pretrain` as a SageMaker user runs it: raw text in the `training` channel, a pre-trained
//! encoder (`AlbertForMaskedLM` / `BertForMaskedLM`) in the model directory that a `task=ner` job then
//! fine-tunes, continued pre-training from that model's own head, a spot restart that resumes and
//! ships the same model, and bad input failing with the file, line and offset.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{check, failed, fast, run_predict, stdout, Job};

/// Sentences of the committed sample with their tags dropped: `n` lines of raw text, a blank line
/// after every fifth (documents of five lines).
fn raw_text(n: usize) -> String {
    let sample = fs::read_to_string(
        std::path::Path::new(common::REPO)
            .join("local_test/test_dir/input/data/training/train.txt"),
    )
    .unwrap();
    let mut out = String::new();
    for (i, block) in sample.split("\n\n").take(n).enumerate() {
        let line: String = block
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        out.push_str(&line);
        out.push('\n');
        if i % 5 == 4 {
            out.push('\n');
        }
    }
    out
}

/// A job whose `training` channel holds `corpus.txt` of `n` lines of raw text.
fn text_job(n: usize) -> Job {
    let job = Job::new(0, 0, 0);
    job.write("input/data/training/corpus.txt", &raw_text(n));
    job
}

fn pretrain(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![
        ("task", "pretrain"),
        ("max_seq_length", "48"),
        ("max_steps", "8"),
        ("eval_steps", "4"),
    ];
    settings.extend_from_slice(extra);
    fast(&settings)
}

/// `extra` with a tiny BERT (its config copied into the job's working directory).
fn bert_tiny(
    extra: &[(&'static str, &'static str)],
    job: &Job,
) -> Vec<(&'static str, &'static str)> {
    fs::copy(
        std::path::Path::new(common::REPO).join("albert_config/bert_config_tiny.json"),
        job.workdir().join("bert_tiny.json"),
    )
    .unwrap();
    let mut settings = vec![("encoder", "bert"), ("bert_config_file", "bert_tiny.json")];
    settings.extend_from_slice(extra);
    settings
}

fn log(o: &std::process::Output) -> String {
    stdout(o) + &common::stderr(o)
}

/// The model directory as a 'static path for the next job's settings.
fn model_path(job: &Job) -> &'static str {
    Box::leak(
        job.base()
            .join("model")
            .to_str()
            .unwrap()
            .to_string()
            .into_boxed_str(),
    )
}

#[test]
fn pretraining_writes_an_albert_for_masked_lm_that_a_ner_job_fine_tunes() {
    let job = text_job(200);
    job.hyperparameters(&pretrain(&[]));
    let o = job.train();
    check(&o, o.status.success(), "pretrain");
    let out = log(&o);
    assert!(out.contains("pre-training text:"), "{out}");
    let evals: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("pretrain_eval:"))
        .collect();
    assert_eq!(evals.len(), 2, "steps 4 and 8: {out}");
    assert!(evals
        .iter()
        .all(|l| l.contains("perplexity=") && l.contains("mlm_accuracy=")));
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["architectures"][0], "AlbertForMaskedLM");
    assert!(config.get("id2label").is_none(), "not a tagger");
    let metrics: serde_json::Value = serde_json::from_str(&job.read("model/metrics.json")).unwrap();
    assert_eq!(metrics["task"], "pretrain");
    assert_eq!(metrics["global_step"], 8);
    let history = metrics["evaluation_history"].as_array().unwrap();
    let (at4, at8) = (
        history[0]["loss"].as_f64().unwrap(),
        history[1]["loss"].as_f64().unwrap(),
    );
    assert!(
        at8 < at4,
        "it learns: held-out loss {at4} at step 4, {at8} at step 8"
    );
    assert!(
        at4 < (21128f64).ln() + 0.5,
        "about a uniform guess or better: {at4}"
    );
    assert_eq!(
        job.read("output/data/eval_results.jsonl").lines().count(),
        2
    );
    assert!(
        fs::read_dir(job.base().join("output/tensorboard"))
            .unwrap()
            .count()
            > 0
    );

    // predict refuses it with what to do instead.
    let o = run_predict(&job.base().join("model"), &[], "张三在北京。");
    assert!(!o.status.success());
    let err = log(&o);
    assert!(
        err.contains("not a tagger") && err.contains("task=ner"),
        "{err}"
    );

    // A task=ner job takes it as its pretrained weights: the encoder loads, the MLM head is skipped.
    let ner = Job::new(20, 4, 0);
    let mut settings = fast(&[("init_checkpoint", model_path(&job)), ("max_steps", "2")]);
    settings.retain(|(k, _)| *k != "bert_config_file");
    ner.hyperparameters(&settings);
    let o = ner.train();
    check(&o, o.status.success(), "fine-tune the pre-trained encoder");
    let out = log(&o);
    assert!(
        out.contains("loaded 23 tensors") && out.contains("skipped 5 unused (predictions."),
        "{out}"
    );
    common::assert_model(&ner);
}

#[test]
fn continued_pretraining_starts_from_the_models_own_head() {
    let first = text_job(120);
    first.hyperparameters(&pretrain(&[("max_steps", "2")]));
    let o = first.train();
    check(&o, o.status.success(), "the first pre-training");
    let second = text_job(120);
    let mut settings = pretrain(&[("init_checkpoint", model_path(&first)), ("max_steps", "2")]);
    settings.retain(|(k, _)| *k != "bert_config_file");
    second.hyperparameters(&settings);
    let o = second.train();
    check(&o, o.status.success(), "continued pre-training");
    let out = log(&o);
    assert!(
        out.contains("MLM head continued from the checkpoint's"),
        "{out}"
    );
    assert!(!out.contains("new pre-training heads"), "{out}");
}

#[test]
fn bert_pretrains_into_a_bert_for_masked_lm() {
    let job = text_job(60);
    job.hyperparameters(&pretrain(&bert_tiny(&[("max_steps", "2")], &job)));
    let o = job.train();
    check(&o, o.status.success(), "pretrain BERT");
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["architectures"][0], "BertForMaskedLM");
    assert_eq!(config["model_type"], "bert");
}

#[test]
fn a_pretrain_job_restarted_on_a_new_instance_resumes_and_ships_the_same_model() {
    let job = text_job(200);
    job.hyperparameters(&pretrain(&[
        ("save_checkpoints_steps", "3"),
        ("train_batch_size", "4"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "the first run");
    let shipped = fs::read(job.base().join("model/model.safetensors")).unwrap();
    for dir in ["model", "output"] {
        fs::remove_dir_all(job.base().join(dir)).unwrap();
    }
    let o = job.train();
    check(&o, o.status.success(), "the restart");
    let out = log(&o);
    assert!(
        out.contains("resuming from checkpoint") && out.contains("step 6"),
        "{out}"
    );
    assert!(out.contains("replaying pass 1 to sequence 24"), "{out}");
    assert_eq!(
        fs::read(job.base().join("model/model.safetensors")).unwrap(),
        shipped,
        "steps 7 and 8 again, on the same sequences with the same masks"
    );
}

#[test]
fn sigterm_checkpoints_and_the_restart_ends_as_an_uninterrupted_run() {
    // The bundled tiny ALBERT (no dropout): slow enough to be stopped mid-run, deterministic on a CPU.
    let settings = pretrain(&[
        ("bert_config_file", "albert_config/albert_config_tiny.json"),
        ("max_steps", "40"),
        ("logging_steps", "1"),
        ("eval_steps", "20"),
        ("save_checkpoints_steps", "1000"),
    ]);
    let uninterrupted = text_job(200);
    uninterrupted.hyperparameters(&settings);
    let o = uninterrupted.train();
    check(&o, o.status.success(), "the uninterrupted run");

    let job = text_job(200);
    job.hyperparameters(&settings);
    let mut child = job
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("train: epoch=1 step=3/") {
            break;
        }
    }
    assert!(seen.contains("step=3/"), "never reached step 3:\n{seen}");
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "stopped jobs exit 143");
    assert!(
        !job.exists("model/model.safetensors"),
        "no model from a stopped run"
    );
    let checkpoints: Vec<String> = fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    let stopped_at: usize = checkpoints[0].trim_start_matches("step-").parse().unwrap();
    assert!(stopped_at < 40, "stopped before the end: {stopped_at}");

    let o = job.train();
    check(&o, o.status.success(), "the restart");
    let out = log(&o);
    assert!(out.contains(&format!("step {stopped_at}, pass 1")), "{out}");
    let (diff, name) = common::max_weight_diff(&uninterrupted, &job);
    assert_eq!(diff, 0.0, "{name} differs by {diff}");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn two_processes_of_batch_4_pretrain_the_model_one_process_of_batch_8_does() {
    one_process_equals_two(&[], &raw_text(120));
}

#[test]
fn with_sentence_order_two_processes_pretrain_the_model_one_process_does() {
    // One-word documents between the others: sequences with no pair, so that the replicas' shares of
    // the pairs differ from their shares of the sequences.
    let mut text = String::new();
    for (i, line) in raw_text(120).lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        if i % 3 == 2 {
            text.push_str("\n好\n\n");
        }
    }
    // The SOP classifier's dropout off too (albert_zh configs leave it at HF's 0.1).
    one_process_equals_two(
        &[
            ("sentence_order_prediction", "true"),
            ("classifier_dropout_prob", "0"),
        ],
        &text,
    );
}

/// One process of batch 8 and two of batch 4 end with the same weights and report the same losses.
fn one_process_equals_two(extra: &[(&'static str, &'static str)], text: &str) {
    // The micro config has no dropout: the final weights are a function of the data and the seed.
    let one = text_job(0);
    one.write("input/data/training/corpus.txt", text);
    let mut settings = vec![("train_batch_size", "8"), ("max_steps", "6")];
    settings.extend_from_slice(extra);
    one.hyperparameters(&pretrain(&settings));
    let first = one.train();
    check(&first, first.status.success(), "the single-process run");

    let two = text_job(0);
    two.write("input/data/training/corpus.txt", text);
    let port: &'static str = Box::leak(common::free_port().to_string().into_boxed_str());
    let mut settings = vec![
        ("train_batch_size", "4"),
        ("max_steps", "6"),
        ("processes_per_host", "2"),
        ("master_port", port),
    ];
    settings.extend_from_slice(extra);
    two.hyperparameters(&pretrain(&settings));
    let o = two.train();
    check(&o, o.status.success(), "the two-process run");
    let out = log(&o);
    assert!(out.contains("4 per replica x 2 replicas"), "{out}");
    let (diff, name) = common::max_weight_diff(&one, &two);
    assert!(diff < 1e-5, "{name} differs by {diff}");
    // The same losses step by step (a mis-scaled gradient would hide behind clipping and Adam in the
    // weights, not in the loss the replicas report together).
    let losses = |o: &std::process::Output| -> Vec<f64> {
        log(o)
            .lines()
            .filter(|l| l.contains(" train: "))
            .map(|l| {
                l.split("loss=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let (a, b) = (losses(&first), losses(&o));
    assert_eq!(a.len(), 6);
    assert!(
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3),
        "{a:?} vs {b:?}"
    );
}

#[test]
fn sentence_order_prediction_writes_an_albert_for_pre_training_that_a_ner_job_fine_tunes() {
    let job = text_job(200);
    job.hyperparameters(&pretrain(&[("sentence_order_prediction", "true")]));
    let o = job.train();
    check(&o, o.status.success(), "pretrain with SOP");
    let out = log(&o);
    let evals: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("pretrain_eval:"))
        .collect();
    assert_eq!(evals.len(), 2, "{out}");
    assert!(evals.iter().all(|l| l.contains(" sop_accuracy=")), "{out}");
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["architectures"][0], "AlbertForPreTraining");
    let record: serde_json::Value = serde_json::from_str(
        job.read("output/data/eval_results.jsonl")
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let accuracy = record["sop_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{record}");

    // predict refuses it; a task=ner job takes the encoder and skips both pre-training heads.
    let o = run_predict(&job.base().join("model"), &[], "张三在北京。");
    assert!(!o.status.success() && log(&o).contains("not a tagger"));
    let ner = Job::new(20, 4, 0);
    let mut settings = fast(&[("init_checkpoint", model_path(&job)), ("max_steps", "2")]);
    settings.retain(|(k, _)| *k != "bert_config_file");
    ner.hyperparameters(&settings);
    let o = ner.train();
    check(
        &o,
        o.status.success(),
        "fine-tune the encoder pre-trained with SOP",
    );
    let out = log(&o);
    assert!(
        out.contains("loaded 23 tensors")
            && out.contains(
                "skipped 9 unused (albert.pooler.bias, albert.pooler.weight, predictions."
            )
            && out.contains("sop_classifier.classifier.bias"),
        "{out}"
    );
    common::assert_model(&ner);
}

#[test]
fn sentence_order_prediction_needs_room_for_two_segments() {
    let job = text_job(10);
    job.hyperparameters(&pretrain(&[
        ("sentence_order_prediction", "true"),
        ("max_seq_length", "3"),
        ("window_stride", "0"),
    ]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("needs max_seq_length of at least 4") && cause.contains("it is 3"),
        "{cause}"
    );
}

#[test]
fn sentence_order_prediction_is_refused_for_bert_naming_the_setting() {
    let job = text_job(10);
    job.hyperparameters(&pretrain(&bert_tiny(
        &[("sentence_order_prediction", "true")],
        &job,
    )));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("sentence_order_prediction=true is ALBERT's pre-training task")
            && cause.contains("encoder=bert"),
        "{cause}"
    );
}

#[test]
fn bad_text_fails_naming_file_line_and_offset() {
    let job = text_job(10);
    job.write_bytes("input/data/training/b.txt", b"fine\nbad \xff byte\n");
    job.hyperparameters(&pretrain(&[]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("b.txt:2: invalid UTF-8 at byte offset 9 (byte 0xff)"),
        "{cause}"
    );
    assert!(!job.exists("model/model.safetensors"));

    let job = text_job(10);
    job.write_bytes("input/data/training/weights.bin", b"\x93NUMPY\x00\x01");
    job.hyperparameters(&pretrain(&[]));
    let cause = failed(&job, &job.train());
    assert!(cause.contains("weights.bin:1: a binary file"), "{cause}");

    let job = Job::new(0, 0, 0);
    job.write("input/data/training/blank.txt", "\n \n\n");
    job.hyperparameters(&pretrain(&[]));
    let cause = failed(&job, &job.train());
    assert!(cause.contains("blank.txt: no text"), "{cause}");
}

#[test]
fn pretraining_a_bilstm_is_refused_naming_the_encoders_that_pretrain() {
    let job = text_job(10);
    job.hyperparameters(&pretrain(&[("encoder", "albert_bilstm")]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("task=pretrain pre-trains a transformer")
            && cause.contains("encoder=albert_bilstm")
            && cause.contains("use encoder=albert or encoder=bert"),
        "{cause}"
    );
}
