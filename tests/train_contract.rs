//! The `train` binary against the SageMaker training contract, end to end on temporary base directories.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_model, check, failed, fast, stderr, stdout, Job};

#[test]
fn the_sagemaker_articles_hyperparameters_run_unchanged() {
    let job = Job::new(8, 4, 4);
    // As the SDK 2.x Estimator writes the article's dict: every value through str().
    job.hyperparameters(&[
        ("task_name", "ner"),
        ("do_train", "true"),
        ("do_eval", "true"),
        ("data_dir", "/opt/ml/input/data/training"),
        ("output_dir", "/opt/ml/model"),
        ("vocab_file", "./albert_config/vocab.txt"),
        (
            "bert_config_file",
            "./albert_base_zh/albert_config_base.json",
        ),
        ("max_seq_length", "128"),
        ("train_batch_size", "64"),
        ("learning_rate", "2e-05"),
        ("num_train_epochs", "3"),
    ]);
    let o = job.train();
    check(&o, o.status.success(), "the article's dict must train");
    let out = stdout(&o);
    let first_lines: String = out.lines().take(12).collect::<Vec<_>>().join("\n");
    assert!(
        first_lines.contains("from scratch"),
        "the first lines must say training starts from scratch:\n{first_lines}"
    );
    assert!(
        first_lines.contains("learning_rate=0.00002 is a rate for fine-tuning pretrained weights"),
        "a fine-tuning rate from scratch gets the measured advice:\n{first_lines}"
    );
    assert!(out.contains("entity_f1="), "evaluation lines expected");
    assert_model(&job);
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["hidden_size"], 768);
    assert_eq!(config["num_hidden_layers"], 12);
}

#[test]
fn sdk2_and_sdk3_encodings_train_the_same_job() {
    let sdk2 = Job::new(16, 6, 0);
    sdk2.hyperparameters(&fast(&[
        ("do_lower_case", "True"),
        ("warmup_proportion", "0.1"),
        ("head", "crf"),
    ]));
    let sdk3 = Job::new(16, 6, 0);
    sdk3.hyperparameters(&[
        ("bert_config_file", "\"micro.json\""),
        ("max_seq_length", "64"),
        ("train_batch_size", "8"),
        ("eval_batch_size", "16"),
        ("learning_rate", "0.001"),
        ("num_train_epochs", "1.0"),
        ("logging_steps", "1"),
        ("do_lower_case", "true"),
        ("warmup_proportion", "0.1"),
        ("head", "\"crf\""),
    ]);
    let a = sdk2.train();
    check(&a, a.status.success(), "SDK 2.x encoding");
    let b = sdk3.train();
    check(&b, b.status.success(), "SDK 3.x encoding");
    let ha: serde_json::Value =
        serde_json::from_str(&sdk2.read("model/hyperparameters.json")).unwrap();
    let hb: serde_json::Value =
        serde_json::from_str(&sdk3.read("model/hyperparameters.json")).unwrap();
    assert_eq!(ha, hb);
    // Same seed, same data, CPU: the same model.
    let ma: serde_json::Value = serde_json::from_str(&sdk2.read("model/metrics.json")).unwrap();
    let mb: serde_json::Value = serde_json::from_str(&sdk3.read("model/metrics.json")).unwrap();
    assert_eq!(
        ma["best_validation_entity_f1"],
        mb["best_validation_entity_f1"]
    );
    assert_eq!(
        fs::read(sdk2.base().join("model/model.safetensors")).unwrap(),
        fs::read(sdk3.base().join("model/model.safetensors")).unwrap(),
        "CPU runs with the same seed must be repeatable"
    );
}

#[test]
fn outputs_metrics_predictions_and_tensorboard() {
    let job = Job::new(24, 8, 8);
    job.hyperparameters(&fast(&[("num_train_epochs", "2")]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    assert_model(&job);
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.contains("train: epoch=1 step=1/")),
        "per-step train lines"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains(" eval: epoch=")).count(),
        2,
        "one eval line per epoch:\n{out}"
    );
    assert!(out
        .lines()
        .any(|l| l.contains(" test: ") && l.contains("entity_f1=")));
    assert!(!out.contains('\r'), "no carriage returns in logs");
    assert!(
        !out.contains("is a rate for fine-tuning"),
        "lr 0.001 from scratch needs no advice"
    );
    // One line per evaluation, with per-type scores.
    let evals = job.read("output/data/eval_results.jsonl");
    assert_eq!(evals.lines().count(), 2);
    // Test predictions: one `char TAG` line per input character, in order.
    let gold = job.read("input/data/test/test.txt");
    let pred = job.read("output/data/test_predictions.txt");
    let chars = |t: &str| {
        t.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(chars(&gold), chars(&pred));
    let results: serde_json::Value =
        serde_json::from_str(&job.read("output/data/test_results.json")).unwrap();
    assert!(results["entity"]["micro"]["f1"].is_number());
    let events: Vec<_> = fs::read_dir(job.base().join("output/tensorboard"))
        .unwrap()
        .collect();
    assert_eq!(events.len(), 1, "one TensorBoard event file");
    let metrics: serde_json::Value = serde_json::from_str(&job.read("model/metrics.json")).unwrap();
    assert!(metrics["test"]["entity"]["micro"]["f1"].is_number());
    // The test line names the weights it scored: the best by validation, not the last step.
    let scored = format!(
        " test: epoch={} step={} ",
        metrics["best_epoch"], metrics["best_step"]
    );
    assert!(out.contains(&scored), "no `{scored}` in:\n{out}");
}

#[test]
fn max_train_seconds_ends_the_job_as_a_success_with_a_scored_model() {
    let job = Job::new(24, 8, 8);
    // 100 epochs would take minutes; a budget this small stops after the first step.
    job.hyperparameters(&fast(&[
        ("num_train_epochs", "100"),
        ("max_train_seconds", "0.000001"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    assert_model(&job);
    let out = stdout(&o);
    assert!(out.contains("time budget reached"), "{out}");
    let metrics: serde_json::Value = serde_json::from_str(&job.read("model/metrics.json")).unwrap();
    assert_eq!(metrics["time_budget_reached"], true);
    assert_eq!(metrics["global_step"], 1);
    assert!(metrics["test"]["entity"]["micro"]["f1"].is_number());
}

#[test]
fn unknown_hyperparameter_names_the_closest_valid_ones() {
    let job = Job::new(4, 0, 0);
    job.hyperparameters(&fast(&[("learning_rat", "0.001")]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("learning_rat") && cause.contains("learning_rate"),
        "{cause}"
    );
}

#[test]
fn bad_value_names_key_value_and_type() {
    let job = Job::new(4, 0, 0);
    job.hyperparameters(&fast(&[("train_batch_size", "sixty-four")]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("train_batch_size") && cause.contains("sixty-four"),
        "{cause}"
    );
}

#[test]
fn device_cuda_without_a_gpu_fails_with_libtorchs_reason() {
    if albert_ner::device::nvidia_driver_present() {
        eprintln!("skipped: this host has an NVIDIA driver, so device=cuda trains");
        return;
    }
    let job = Job::new(4, 0, 0);
    job.hyperparameters(&fast(&[("device", "cuda")]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.starts_with(
            "device=cuda but no CUDA device is visible to libtorch: Found no NVIDIA driver"
        ),
        "the backend loads and libtorch names what is missing: {cause}"
    );
}

#[test]
fn missing_training_channel_is_a_clear_failure() {
    let job = Job::new(0, 0, 0);
    job.hyperparameters(&fast(&[]));
    let cause = failed(&job, &job.train());
    assert!(cause.contains("training"), "{cause}");
}

#[test]
fn malformed_data_names_file_line_and_value() {
    let job = Job::new(4, 0, 0);
    job.write(
        "input/data/training/train.txt",
        "中 O\n国 B-LOC\n人 X-PER\n",
    );
    job.hyperparameters(&fast(&[]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("train.txt") && cause.contains('3') && cause.contains("X-PER"),
        "{cause}"
    );
}

#[test]
fn invalid_utf8_names_the_file_and_line() {
    let job = Job::new(4, 0, 0);
    job.write_bytes(
        "input/data/training/train.txt",
        b"\xe4\xb8\xad O\n\xff\xfe O\n",
    );
    job.hyperparameters(&fast(&[]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("train.txt") && cause.contains("UTF-8") && cause.contains('2'),
        "{cause}"
    );
}

#[test]
fn validation_label_unknown_to_training_names_it() {
    let job = Job::new(6, 0, 0);
    job.write(
        "input/data/validation/dev.txt",
        "张 B-PER\n三 I-PER\n\n苹 B-PRODUCT\n果 I-PRODUCT\n",
    );
    job.hyperparameters(&fast(&[]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("dev.txt") && cause.contains("B-PRODUCT"),
        "{cause}"
    );
}

#[test]
fn pipe_mode_is_refused_clearly() {
    let job = Job::new(4, 0, 0);
    job.hyperparameters(&fast(&[]));
    job.write(
        "input/config/inputdataconfig.json",
        r#"{"training": {"TrainingInputMode": "Pipe"}}"#,
    );
    let cause = failed(&job, &job.train());
    assert!(cause.contains("Pipe"), "{cause}");
}

#[test]
fn failure_keeps_what_was_already_written() {
    let job = Job::new(4, 0, 0);
    job.write("output/data/earlier.txt", "kept");
    job.hyperparameters(&fast(&[("learning_rat", "1")]));
    failed(&job, &job.train());
    assert_eq!(job.read("output/data/earlier.txt"), "kept");
}

/// Files, sizes and contents under a directory.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn read_only_channels_are_never_written() {
    use std::os::unix::fs::PermissionsExt;
    let job = Job::new(12, 4, 4);
    job.hyperparameters(&fast(&[]));
    let input = job.base().join("input");
    let before = snapshot(&input);
    let set_mode = |mode| {
        for p in walk(&input) {
            let m = if p.is_dir() { mode | 0o111 } else { mode };
            fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
        }
    };
    set_mode(0o444);
    let o = job.train();
    set_mode(0o644);
    check(&o, o.status.success(), "training from read-only channels");
    assert_eq!(before, snapshot(&input), "nothing under input/ may change");
    assert_model(&job);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn with_distributed_off_idle_hosts_exit_cleanly_without_a_model() {
    let job = Job::new(4, 0, 0);
    job.hyperparameters(&fast(&[("distributed", "off")]));
    job.write(
        "input/config/resourceconfig.json",
        r#"{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"}"#,
    );
    let o = job.train();
    check(&o, o.status.success(), "a non-leader host exits 0");
    assert!(!job.exists("model/model.safetensors"));
    assert!(
        stdout(&o).contains("algo-1"),
        "the log says which host trains"
    );
}

#[test]
fn sigterm_checkpoints_and_a_restart_resumes_to_a_finished_model() {
    let job = Job::new(80, 8, 0);
    job.hyperparameters(&fast(&[
        ("num_train_epochs", "3"),
        ("train_batch_size", "4"),
        ("save_checkpoints_steps", "1000"),
    ]));
    let mut child = job
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("train: epoch=1 step=5/") {
            break;
        }
    }
    assert!(
        seen.contains("step=5/"),
        "training never reached step 5:\n{seen}"
    );
    let signalled = Instant::now();
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(120),
        "must exit within 120 s of SIGTERM"
    );
    assert_eq!(status.code(), Some(143), "stopped jobs exit 143");
    let ckpts: Vec<_> = fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        ckpts.len(),
        1,
        "one checkpoint, no temporary leftovers: {ckpts:?}"
    );
    let name = ckpts[0].to_string_lossy().into_owned();
    assert!(name.starts_with("step-"), "{name}");

    let o = job.train();
    check(&o, o.status.success(), "the restart finishes");
    let out = stdout(&o);
    assert!(
        out.contains("resuming from checkpoint"),
        "the log says it resumed:\n{out}"
    );
    let resumed_step: usize = name.trim_start_matches("step-").parse().unwrap();
    assert!(
        !out.contains("train: epoch=1 step=1/"),
        "a resumed run does not start over"
    );
    assert!(out.contains(&format!("step={}/", resumed_step + 1)));
    assert_model(&job);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn corrupt_checkpoints_are_skipped_with_a_warning() {
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[]));
    job.write("checkpoints/step-000000999/state.json", "{ not json");
    job.write("checkpoints/step-000000999/model.safetensors", "garbage");
    let o = job.train();
    check(
        &o,
        o.status.success(),
        "a corrupt checkpoint must not stop training",
    );
    let out = stdout(&o);
    assert!(
        out.contains("skipping checkpoint") && out.contains("step-000000999"),
        "{out}"
    );
    assert!(!out.contains("resuming from checkpoint"));
    assert_model(&job);
    let _ = stderr(&o);
}

#[test]
fn a_google_layout_checkpoint_in_the_pretrained_channel_initialises_training() {
    let job = Job::new(12, 4, 0);
    let fixture = Path::new(common::REPO).join("crates/albert-model/fixtures/google_tiny");
    for entry in fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut bytes = fs::read(&path).unwrap();
        if name == "vocab.txt" {
            // The fixture's 120 entries lack the [unused1] the tokenizer maps spaces to.
            let text = String::from_utf8(bytes).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines[5] = "[unused1]";
            bytes = (lines.join("\n") + "\n").into_bytes();
        }
        job.write_bytes(&format!("input/data/pretrained/{name}"), &bytes);
    }
    let hp: Vec<_> = fast(&[("max_seq_length", "32"), ("window_stride", "8")])
        .into_iter()
        .filter(|(k, _)| *k != "bert_config_file")
        .collect();
    job.hyperparameters(&hp);
    let o = job.train();
    check(
        &o,
        o.status.success(),
        "trains from the Google-layout checkpoint",
    );
    let out = stdout(&o);
    assert!(
        out.contains("layout: Google ALBERT (transformer/group_*/inner_group_*)"),
        "the log names the layout: {out}"
    );
    assert!(out.contains("skipped"), "{out}");
    assert_model(&job);
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["num_hidden_groups"], 2);
}

#[test]
fn multi_character_tokens_train_and_their_predictions_line_up_with_the_input() {
    let job = Job::new(20, 0, 0);
    let mixed = "我 O\n买 O\niPhone B-ORG\n15 I-ORG\n于 O\n2024年 O\n\u{FFFD}\u{FFFD} O\n\u{2764}\u{FE0F} O\n\n\
                 张 B-PER\n三 I-PER\n在 O\nNew-York B-LOC\n工作 O\n\n";
    let train = job.read("input/data/training/train.txt") + "\n" + mixed;
    job.write("input/data/training/train.txt", &train);
    job.write("input/data/validation/dev.txt", mixed);
    job.write("input/data/test/test.txt", mixed);
    job.hyperparameters(&fast(&[]));
    let o = job.train();
    check(
        &o,
        o.status.success(),
        "a file with multi-character tokens trains",
    );
    assert!(
        stdout(&o).contains("tokens of several characters, one unit each (first at line"),
        "the reader logs them: {}",
        stdout(&o)
    );
    let predicted = job.read("output/data/test_predictions.txt");
    let gold_lines: Vec<&str> = mixed.lines().collect();
    let predicted_lines: Vec<&str> = predicted.lines().collect();
    assert_eq!(
        predicted_lines.len(),
        gold_lines.len(),
        "one line per input token:\n{predicted}"
    );
    for (p, g) in predicted_lines.iter().zip(&gold_lines) {
        let token = |l: &str| l.rsplit_once(' ').map(|(t, _)| t.to_string());
        assert_eq!(token(p), token(g), "{p:?} against {g:?}");
    }
}
