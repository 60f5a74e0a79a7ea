//! `train` with the BERT encoders as a SageMaker user runs it: `encoder=bert` from a TensorFlow
//! release's `bert_config.json`, `encoder=bert_bilstm`, `predict` tagging what they saved, a spot
//! restart resuming from its checkpoint, and a config of the other transformer family refused naming
//! the encoder to use.

mod common;

use common::{check, failed, fast, run_predict, stdout, Job, MICRO_BERT_CONFIG as MICRO_BERT};

/// `fast` settings for `encoder` over [`MICRO_BERT`], with `extra` on top.
fn bert(
    encoder: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![
        ("encoder", encoder),
        ("bert_config_file", "bert_micro.json"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("num_train_epochs", "2"),
    ];
    settings.extend_from_slice(extra);
    fast(&settings)
}

/// Tags `text` with the job's model: one `char TAG` line per character.
fn predict_tags(job: &Job, text: &str) -> Vec<String> {
    let o = run_predict(&job.base().join("model"), &[], text);
    check(&o, o.status.success(), "predict");
    stdout(&o)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bert_trains_from_a_tf_release_config_and_predict_tags_with_it() {
    let job = Job::new(30, 6, 6);
    job.hyperparameters(&bert("bert", &[]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let log = stdout(&o) + &common::stderr(&o);
    assert!(log.contains("encoder: BERT hidden=32 layers=2"), "{log}");
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["model_type"], "bert");
    assert_eq!(config["ner_encoder"], "bert");
    assert_eq!(config["hidden_act"], "gelu");
    assert!(job.exists("output/data/test_results.json"));

    let text = "王小明在北京大学读书，他说今年夏天要去上海和广州看看那里的博物馆和图书馆。";
    assert_eq!(
        predict_tags(&job, text).len(),
        text.chars().count(),
        "one `char TAG` line per character (windowed: 37 > 30)"
    );
}

#[test]
fn bert_bilstm_trains_with_the_lstm_learning_at_the_heads_rate() {
    let job = Job::new(20, 4, 0);
    job.hyperparameters(&bert("bert_bilstm", &[]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let config: serde_json::Value = serde_json::from_str(&job.read("model/config.json")).unwrap();
    assert_eq!(config["ner_encoder"], "bert_bilstm");
    assert_eq!(
        config["architectures"][0],
        "BertBiLstmForTokenClassification"
    );
    let resolved: serde_json::Value =
        serde_json::from_str(&job.read("model/hyperparameters.json")).unwrap();
    assert_eq!(
        resolved["lstm_learning_rate_multiplier"], resolved["crf_learning_rate_multiplier"],
        "a BiLSTM over BERT is new, like the head"
    );
    let text = "张三在北京。";
    assert_eq!(predict_tags(&job, text).len(), text.chars().count());
}

#[test]
fn a_bert_job_restarted_on_a_new_instance_resumes_from_its_checkpoint() {
    // No validation data: the model is the last step's weights, so the bytes below depend on the
    // resumed steps being trained exactly as the first run trained them.
    let job = Job::new(24, 0, 0);
    job.hyperparameters(&bert(
        "bert",
        &[
            ("train_batch_size", "4"),
            ("save_checkpoints_steps", "3"),
            ("validation_split", "0"),
        ],
    ));
    let o = job.train();
    check(&o, o.status.success(), "the first run");
    let shipped = std::fs::read(job.base().join("model/model.safetensors")).unwrap();
    let newest = std::fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_prefix("step-")?.parse::<usize>().ok()
        })
        .max()
        .expect("a periodic checkpoint");
    // A new instance: the checkpoints survive (synced to S3), the model and output do not.
    for dir in ["model", "output"] {
        std::fs::remove_dir_all(job.base().join(dir)).unwrap();
    }
    let o = job.train();
    check(&o, o.status.success(), "the restart");
    let out = stdout(&o);
    assert!(
        out.contains("resuming from checkpoint") && out.contains(&format!("(step {newest},")),
        "{out}"
    );
    assert!(
        !out.contains("train: epoch=1 step=1/"),
        "not from the start: {out}"
    );
    assert_eq!(
        std::fs::read(job.base().join("model/model.safetensors")).unwrap(),
        shipped,
        "the steps after the checkpoint, again, give the same final weights"
    );
}

#[test]
fn a_config_of_the_other_family_is_refused_naming_the_encoder_to_use() {
    // An HF ALBERT config.json given to encoder=bert.
    let job = Job::new(10, 2, 0);
    let albert =
        common::MICRO_CONFIG.replace("\"ln_type\": \"postln\"", "\"model_type\": \"albert\"");
    std::fs::write(job.workdir().join("albert_hf.json"), &albert).unwrap();
    job.hyperparameters(&fast(&[
        ("encoder", "bert"),
        ("bert_config_file", "albert_hf.json"),
    ]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("encoder=bert") && cause.contains("use encoder=albert"),
        "{cause}"
    );
    assert!(!job.exists("model/model.safetensors"));

    // An HF BERT config.json given to encoder=albert_bilstm.
    let job = Job::new(10, 2, 0);
    let bert_hf = MICRO_BERT.replace("\"directionality\": \"bidi\"", "\"model_type\": \"bert\"");
    std::fs::write(job.workdir().join("bert_hf.json"), &bert_hf).unwrap();
    job.hyperparameters(&fast(&[
        ("encoder", "albert_bilstm"),
        ("bert_config_file", "bert_hf.json"),
    ]));
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("encoder=albert_bilstm") && cause.contains("use encoder=bert_bilstm"),
        "{cause}"
    );
}

#[test]
fn a_bert_too_large_for_memory_is_refused_before_allocating_counting_every_layer() {
    let job = Job::new(12, 4, 0);
    // 400 unshared layers of 4096: ~8e10 parameters, which no test machine holds; an ALBERT of the same
    // sizes shares one layer and would fit, so only BERT's own count refuses it.
    let huge = MICRO_BERT
        .replace("\"hidden_size\": 32", "\"hidden_size\": 4096")
        .replace("\"intermediate_size\": 64", "\"intermediate_size\": 16384")
        .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 400");
    std::fs::write(job.workdir().join("huge_bert.json"), huge).unwrap();
    job.hyperparameters(&fast(&[
        ("encoder", "bert"),
        ("bert_config_file", "huge_bert.json"),
    ]));
    let cause = failed(&job, &job.train());
    // 8.1e10: every layer counted (a shared-layer count would say 2.9e8, whatever the machine).
    assert!(
        cause.contains("too large for this machine")
            && cause.contains("num_hidden_layers=400")
            && cause.contains("e10 parameters"),
        "the cause names the sizes: {cause}"
    );
}

#[test]
fn a_bert_model_directory_is_pretrained_weights_for_bert_and_refused_for_albert() {
    // A BERT model this image saved is an HF BertForTokenClassification directory.
    let first = Job::new(20, 4, 0);
    first.hyperparameters(&bert("bert", &[]));
    let o = first.train();
    check(&o, o.status.success(), "train the first model");
    // `fast` takes 'static pairs, as every test's literal settings are.
    let weights: &'static str = Box::leak(
        first
            .base()
            .join("model")
            .to_str()
            .unwrap()
            .to_string()
            .into_boxed_str(),
    );

    // The weights bring their config: no bert_config_file.
    let from_weights = |extra: &[(&'static str, &'static str)]| {
        let mut v = fast(extra);
        v.retain(|(k, _)| *k != "bert_config_file");
        v
    };
    let second = Job::new(20, 4, 0);
    second.hyperparameters(&from_weights(&[
        ("encoder", "bert"),
        ("init_checkpoint", weights),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
    ]));
    let o = second.train();
    check(
        &o,
        o.status.success(),
        "fine-tune from the first model's BERT",
    );
    let log = stdout(&o) + &common::stderr(&o);
    assert!(
        log.contains("pretrained weights (HfSafetensors)")
            && log.contains("loaded 37 tensors")
            && log.contains("crf.transitions"),
        "the encoder's 37 tensors load, the old head is listed as skipped: {log}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&second.read("model/config.json")).unwrap();
    assert_eq!(config["hidden_size"], 32, "the weights' own config");

    let third = Job::new(10, 2, 0);
    third.hyperparameters(&from_weights(&[
        ("encoder", "albert"),
        ("init_checkpoint", weights),
    ]));
    let cause = failed(&third, &third.train());
    assert!(
        cause.contains("encoder=albert") && cause.contains("use encoder=bert"),
        "{cause}"
    );
}

#[test]
fn bert_without_a_config_starts_from_the_bundled_tiny_bert() {
    let job = Job::new(8, 2, 0);
    std::fs::copy(
        std::path::Path::new(common::REPO).join("albert_config/bert_config_tiny.json"),
        job.workdir().join("albert_config/bert_config_tiny.json"),
    )
    .unwrap();
    let mut settings = fast(&[("encoder", "bert"), ("max_steps", "1")]);
    settings.retain(|(k, _)| *k != "bert_config_file");
    job.hyperparameters(&settings);
    let o = job.train();
    check(&o, o.status.success(), "train");
    let log = stdout(&o) + &common::stderr(&o);
    assert!(
        log.contains("architecture of albert_config/bert_config_tiny.json")
            && log.contains("encoder: BERT hidden=312 layers=4"),
        "{log}"
    );
}
