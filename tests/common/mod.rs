//! Helpers for driving the binaries end to end on temporary SageMaker layouts.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A small but real model: fast enough for many end-to-end runs on 2 cores.
pub const MICRO_CONFIG: &str = r#"{
  "attention_probs_dropout_prob": 0.0, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
  "hidden_size": 64, "embedding_size": 32, "initializer_range": 0.02, "intermediate_size": 128,
  "max_position_embeddings": 512, "num_attention_heads": 4, "num_hidden_layers": 2,
  "type_vocab_size": 2, "vocab_size": 21128, "ln_type": "postln"
}"#;

/// A TensorFlow-era `bert_config.json` (no `model_type`, pooler keys), small enough for many runs;
/// every [`Job`] has it as `bert_micro.json`.
pub const MICRO_BERT_CONFIG: &str = r#"{
  "attention_probs_dropout_prob": 0.0, "directionality": "bidi", "hidden_act": "gelu",
  "hidden_dropout_prob": 0.0, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
  "max_position_embeddings": 512, "num_attention_heads": 4, "num_hidden_layers": 2,
  "pooler_fc_size": 32, "pooler_type": "first_token_transform", "type_vocab_size": 2,
  "vocab_size": 21128
}"#;

/// A temporary `/opt/ml` plus a working directory shaped like the image's (`albert_config/`,
/// `albert_base_zh/`).
pub struct Job {
    pub dir: tempfile::TempDir,
}

impl Job {
    /// Channels with the first `n_train`/`n_valid`/`n_test` sentences of the committed sample.
    pub fn new(n_train: usize, n_valid: usize, n_test: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let job = Self { dir };
        let data = Path::new(REPO).join("local_test/test_dir/input/data");
        for (channel, file, n) in [
            ("training", "train.txt", n_train),
            ("validation", "dev.txt", n_valid),
            ("test", "test.txt", n_test),
        ] {
            if n > 0 {
                let text = fs::read_to_string(data.join(channel).join(file)).unwrap();
                job.write(
                    &format!("input/data/{channel}/{file}"),
                    &first_sentences(&text, n),
                );
            }
        }
        let work = job.workdir();
        fs::create_dir_all(work.join("albert_config")).unwrap();
        fs::create_dir_all(work.join("albert_base_zh")).unwrap();
        let cfg = Path::new(REPO).join("albert_config");
        for f in [
            "vocab.txt",
            "albert_config_tiny.json",
            "albert_config_base.json",
        ] {
            fs::copy(cfg.join(f), work.join("albert_config").join(f)).unwrap();
        }
        fs::copy(
            cfg.join("albert_config_base.json"),
            work.join("albert_base_zh/albert_config_base.json"),
        )
        .unwrap();
        fs::write(work.join("micro.json"), MICRO_CONFIG).unwrap();
        fs::write(work.join("bert_micro.json"), MICRO_BERT_CONFIG).unwrap();
        job
    }

    pub fn base(&self) -> PathBuf {
        self.dir.path().join("opt_ml")
    }

    /// The process's working directory, where relative hyperparameter paths resolve.
    pub fn workdir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Writes `rel` under the base directory.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.base().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.base().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    /// hyperparameters.json from string pairs (values written as given: the caller picks the encoding).
    pub fn hyperparameters(&self, pairs: &[(&str, &str)]) {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        self.write(
            "input/config/hyperparameters.json",
            &serde_json::to_string_pretty(&map).unwrap(),
        );
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
        c.arg("train")
            .env("SAGEMAKER_BASE_DIR", self.base())
            .current_dir(self.workdir())
            .env_remove("RUST_LOG");
        c
    }

    pub fn train(&self) -> Output {
        self.command().output().unwrap()
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.base().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.base().join(rel).exists()
    }

    /// First line of output/failure.
    pub fn failure_cause(&self) -> String {
        self.read("output/failure")
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

/// A job that has trained the micro model on 40 sentences with short windows (32 pieces, stride 8), so
/// that tagging longer text exercises the windows.
pub fn trained_micro_tagger(epochs: &'static str) -> Job {
    let job = Job::new(40, 8, 0);
    job.hyperparameters(&fast(&[
        ("num_train_epochs", epochs),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    job
}

/// Hyperparameters for a fast run of the micro model (SDK 2.x spelling).
pub fn fast(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("bert_config_file", "micro.json"),
        ("max_seq_length", "64"),
        ("train_batch_size", "8"),
        ("eval_batch_size", "16"),
        ("learning_rate", "0.001"),
        ("num_train_epochs", "1"),
        ("logging_steps", "1"),
    ];
    for (k, val) in extra {
        v.retain(|(key, _)| key != k);
        v.push((k, val));
    }
    v
}

/// `n` whole sentences of a `char TAG` file: the first one holding each entity type, then the rest in
/// order, so that even tiny splits share one label set.
pub fn first_sentences(text: &str, n: usize) -> String {
    let blocks: Vec<&str> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let mut picked: Vec<usize> = ["B-PER", "B-LOC", "B-ORG"]
        .iter()
        .filter_map(|t| blocks.iter().position(|b| b.contains(t)))
        .collect();
    picked.extend(0..blocks.len());
    let mut seen = std::collections::HashSet::new();
    picked.retain(|i| seen.insert(*i));
    picked.truncate(n);
    picked.sort_unstable();
    picked
        .iter()
        .map(|&i| blocks[i].trim_matches('\n'))
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n"
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a finished job leaves in `model/`.
pub const MODEL_FILES: [&str; 5] = [
    "model.safetensors",
    "config.json",
    "vocab.txt",
    "metrics.json",
    "hyperparameters.json",
];

pub fn assert_model(job: &Job) {
    for f in MODEL_FILES {
        assert!(job.exists(&format!("model/{f}")), "model/{f} missing");
    }
}

/// The failure file's first line, after checking the job failed the way SageMaker needs: non-zero,
/// at most 1024 bytes, and no panic or "bug" as the reason.
pub fn failed(job: &Job, o: &Output) -> String {
    check(o, !o.status.success(), "the job should fail");
    let failure = job.read("output/failure");
    assert!(
        failure.len() <= 1024,
        "failure file is {} bytes",
        failure.len()
    );
    assert!(
        !failure.contains("panicked") && !failure.contains("a bug in albert-ner"),
        "not a user's failure reason: {failure}"
    );
    failure.lines().next().unwrap().to_string()
}

/// [`failed`] for a job whose output went elsewhere (read while it ran): only its exit status.
pub fn failed_with_status(job: &Job, status: std::process::ExitStatus) -> String {
    let o = Output {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    failed(job, &o)
}

/// Panics with the job's output when `cond` is false.
pub fn check(o: &Output, cond: bool, what: &str) {
    assert!(
        cond,
        "{what}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// A TCP port free on loopback now (the OS's pick; another process could take it before use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `predict --model-dir DIR ARGS...` with `input` on stdin.
pub fn run_predict(model_dir: &Path, args: &[&str], input: &str) -> Output {
    run_predict_with_env(model_dir, args, input, &[])
}

/// [`run_predict`] with `env` set (`RUST_LOG`, to read the start-up line).
pub fn run_predict_with_env(
    model_dir: &Path,
    args: &[&str],
    input: &str,
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_predict"))
        .arg("--model-dir")
        .arg(model_dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The project venv's interpreter (or `ALBERT_NER_PYTHON`), which the Python cross-checks need.
pub fn venv_python() -> PathBuf {
    let p = std::env::var_os("ALBERT_NER_PYTHON").map_or_else(
        || PathBuf::from(REPO).join(".venv/bin/python"),
        PathBuf::from,
    );
    assert!(p.exists(), "{} missing: run `make venv`", p.display());
    p
}

/// The largest element-wise difference between two jobs' saved models, and the tensor where.
pub fn max_weight_diff(a: &Job, b: &Job) -> (f64, String) {
    let weights = |job: &Job| {
        let mut w =
            tch::Tensor::read_safetensors(job.base().join("model/model.safetensors")).unwrap();
        w.sort_by(|x, y| x.0.cmp(&y.0));
        w
    };
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    let mut worst = (0.0, String::new());
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let d = f64::try_from((ta - tb).abs().max()).unwrap();
        // A NaN anywhere is a difference, never "equal".
        let d = if d.is_nan() { f64::INFINITY } else { d };
        if d > worst.0 {
            worst = (d, na.clone());
        }
    }
    worst
}

/// The committed sample's test sentences as raw text, one string per sentence, in file order.
pub fn sample_test_sentences() -> Vec<String> {
    let text =
        fs::read_to_string(Path::new(REPO).join("local_test/test_dir/input/data/test/test.txt"))
            .unwrap();
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split(' ').next())
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}
