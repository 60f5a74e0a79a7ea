//! `train` with the BiLSTM encoders as a SageMaker user runs it: `encoder=bilstm` with pretrained
//! character vectors from the `embeddings` channel, `encoder=albert_bilstm`, a spot restart, and
//! `predict` tagging what they saved.

mod common;

use std::fs;

use common::{check, failed, fast, run_predict, stderr, stdout, Job};

/// A BiLSTM small enough for many runs; windows of 32 pieces so longer sentences are windowed.
fn bilstm(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v = fast(&[
        ("encoder", "bilstm"),
        ("char_embedding_size", "8"),
        ("lstm_hidden_size", "16"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("num_train_epochs", "2"),
    ]);
    // The encoder's own learning-rate default applies when none is given.
    v.retain(|(k, _)| *k != "learning_rate");
    for (k, val) in extra {
        v.retain(|(key, _)| key != k);
        v.push((k, val));
    }
    v
}

/// word2vec text: a header, `dim`-wide vectors for the first characters of the training data, and
/// two tokens that are no vocabulary entry.
fn word2vec(job: &Job, dim: usize) -> String {
    let train = job.read("input/data/training/train.txt");
    let vocab =
        fs::read_to_string(std::path::Path::new(common::REPO).join("albert_config/vocab.txt"))
            .unwrap();
    let vocab: std::collections::HashSet<&str> = vocab.lines().collect();
    let mut chars: Vec<&str> = train
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|c| vocab.contains(c))
        .collect();
    chars.sort();
    chars.dedup();
    chars.truncate(50);
    let mut lines = vec![format!("{} {dim}", chars.len() + 2)];
    for (i, c) in chars
        .iter()
        .chain(&["不在词表里", "<unk-token>"])
        .enumerate()
    {
        let values: Vec<String> = (0..dim)
            .map(|d| format!("{:.3}", ((i * 7 + d) % 11) as f32 / 10.0 - 0.5))
            .collect();
        lines.push(format!("{c} {}", values.join(" ")));
    }
    lines.join("\n") + "\n"
}

#[test]
fn bilstm_trains_with_character_vectors_and_predict_tags_with_it() {
    let job = Job::new(40, 8, 8);
    job.hyperparameters(&bilstm(&[]));
    job.write("input/data/embeddings/chars.vec", &word2vec(&job, 8));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let log = stdout(&o) + &stderr(&o);
    assert!(
        log.contains("character vectors from")
            && log.contains("50 of 21128 vocabulary entries")
            && log.contains("2 of the file's 52 vectors match no entry"),
        "{log}"
    );
    assert!(
        log.contains("encoder: characters dim=8 + BiLSTM hidden=16x2"),
        "{log}"
    );
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["ner_encoder"], "bilstm");
    let resolved: serde_json::Value =
        serde_json::from_str(&job.read("model/hyperparameters.json")).unwrap();
    assert_eq!(
        resolved["learning_rate"], 0.01,
        "bilstm's own default learning rate"
    );
    assert!(job.exists("output/data/test_results.json"));

    let text = "王小明在北京大学读书，他说今年夏天要去上海和广州看看那里的博物馆和图书馆。";
    let o = run_predict(&job.base().join("model"), &[], text);
    check(&o, o.status.success(), "predict");
    let tags: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(
        tags.len(),
        text.chars().count(),
        "one `char TAG` line per character (windowed: 37 > 30)"
    );
}

#[test]
fn vectors_of_another_width_fail_naming_the_file_and_both_sizes() {
    let job = Job::new(20, 4, 0);
    job.hyperparameters(&bilstm(&[]));
    job.write("input/data/embeddings/chars.vec", &word2vec(&job, 5));
    let o = job.train();
    let cause = failed(&job, &o);
    assert!(
        cause.contains("embeddings/chars.vec")
            && cause.contains("5 dimensions")
            && cause.contains("char_embedding_size is 8"),
        "{cause}"
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!job.exists("model/model.safetensors"));
}

#[test]
fn character_vectors_for_an_albert_encoder_are_refused() {
    let job = Job::new(20, 4, 0);
    job.hyperparameters(&fast(&[]));
    job.write("input/data/embeddings/chars.vec", &word2vec(&job, 8));
    let o = job.train();
    let cause = failed(&job, &o);
    assert!(cause.contains("only encoder=bilstm uses"), "{cause}");
}

#[test]
fn albert_bilstm_trains_and_predict_tags_with_it() {
    let job = Job::new(30, 8, 0);
    job.hyperparameters(&fast(&[
        ("encoder", "albert_bilstm"),
        ("lstm_hidden_size", "16"),
        ("crf_learning_rate_multiplier", "10"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["ner_encoder"], "albert_bilstm");
    assert_eq!(config["model_type"], "albert");
    let resolved: serde_json::Value =
        serde_json::from_str(&job.read("model/hyperparameters.json")).unwrap();
    assert_eq!(
        resolved["lstm_learning_rate_multiplier"], 10.0,
        "the LSTM is new: the head's multiple"
    );
    let o = run_predict(&job.base().join("model"), &[], "张三去了北京。");
    check(&o, o.status.success(), "predict");
    assert_eq!(stdout(&o).lines().filter(|l| !l.is_empty()).count(), 7);
}

#[test]
fn a_bilstm_job_restarted_on_a_new_instance_resumes_from_its_checkpoint() {
    let job = Job::new(24, 8, 0);
    job.hyperparameters(&bilstm(&[
        ("train_batch_size", "4"),
        ("save_checkpoints_steps", "3"),
        ("eval_steps", "3"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "the first run");
    let shipped = fs::read(job.base().join("model/model.safetensors")).unwrap();
    for dir in ["model", "output"] {
        fs::remove_dir_all(job.base().join(dir)).unwrap();
    }
    let o = job.train();
    check(&o, o.status.success(), "the restart");
    let out = stdout(&o);
    assert!(out.contains("resuming from checkpoint"), "{out}");
    assert_eq!(
        fs::read(job.base().join("model/model.safetensors")).unwrap(),
        shipped,
        "the restart ships the same best model"
    );
}

#[test]
fn bilstm_with_albert_weights_is_refused_naming_the_alternative() {
    let job = Job::new(20, 4, 0);
    job.hyperparameters(&bilstm(&[("init_checkpoint", "albert_base_zh")]));
    let o = job.train();
    let cause = failed(&job, &o);
    assert!(
        cause.contains("encoder=bilstm") && cause.contains("albert_bilstm"),
        "{cause}"
    );
}
