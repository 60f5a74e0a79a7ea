//! Hyperparameters as SageMaker delivers them, in both SDK encodings.

use ner_settings::{Head, MixedPrecision, TaskName};
use sagemaker_contract::{ContractError, Hyperparameters, SageMakerPaths};
use serde_json::{json, Map, Value};

fn parse(value: Value) -> Result<Hyperparameters, ContractError> {
    Hyperparameters::from_map(value.as_object().unwrap())
}

/// The dict of the SageMaker Chinese NER article, as SDK 2.x writes it: every value through `str()`.
fn article_sdk2() -> Value {
    json!({
        "task_name": "ner",
        "do_train": "true",
        "do_eval": "true",
        "data_dir": "/opt/ml/input/data/training",
        "output_dir": "/opt/ml/model",
        "vocab_file": "./albert_config/vocab.txt",
        "bert_config_file": "./albert_base_zh/albert_config_base.json",
        "max_seq_length": "128",
        "train_batch_size": "64",
        "learning_rate": "2e-05",
        "num_train_epochs": "3"
    })
}

/// The same dict as SDK 3.x / script mode writes it: every value through `json.dumps`.
fn article_sdk3() -> Value {
    json!({
        "task_name": "\"ner\"",
        "do_train": "\"true\"",
        "do_eval": "\"true\"",
        "data_dir": "\"/opt/ml/input/data/training\"",
        "output_dir": "\"/opt/ml/model\"",
        "vocab_file": "\"./albert_config/vocab.txt\"",
        "bert_config_file": "\"./albert_base_zh/albert_config_base.json\"",
        "max_seq_length": "128",
        "train_batch_size": "64",
        "learning_rate": "2e-05",
        "num_train_epochs": "3"
    })
}

#[test]
fn the_article_dict_parses() {
    let hp = parse(article_sdk2()).unwrap();
    assert_eq!(hp.task_name, TaskName::Ner);
    assert!(hp.do_train && hp.do_eval);
    assert_eq!(
        hp.data_dir.as_deref(),
        Some("/opt/ml/input/data/training".as_ref())
    );
    assert_eq!(
        hp.vocab_file,
        std::path::PathBuf::from("./albert_config/vocab.txt")
    );
    assert_eq!(
        hp.bert_config_file.as_deref(),
        Some("./albert_base_zh/albert_config_base.json".as_ref())
    );
    assert_eq!(hp.model.max_seq_length, 128);
    assert_eq!(hp.train.train_batch_size, 64);
    assert_eq!(hp.train.learning_rate, 2e-5);
    assert_eq!(hp.train.num_train_epochs, 3.0);
}

#[test]
fn both_sdk_encodings_parse_to_the_same_struct() {
    assert_eq!(
        parse(article_sdk2()).unwrap(),
        parse(article_sdk3()).unwrap()
    );

    let sdk2 = json!({
        "do_lower_case": "False", "bio_constraints": "True", "head": "softmax",
        "mixed_precision": "bf16", "warmup_proportion": "0.06", "seed": "7",
        "hidden_dropout_prob": "0.0", "init_checkpoint": "None", "max_steps": "1e3",
        "max_train_seconds": "1800",
        "pretrained_model_uri": "s3://bucket/albert_base_zh.zip"
    });
    let sdk3 = json!({
        "do_lower_case": "false", "bio_constraints": "true", "head": "\"softmax\"",
        "mixed_precision": "\"bf16\"", "warmup_proportion": "0.06", "seed": "7",
        "hidden_dropout_prob": "0.0", "init_checkpoint": "null", "max_steps": "1000",
        "max_train_seconds": "1.8e3",
        "pretrained_model_uri": "\"s3://bucket/albert_base_zh.zip\""
    });
    let a = parse(sdk2).unwrap();
    assert_eq!(a, parse(sdk3).unwrap());
    assert!(!a.model.do_lower_case);
    assert_eq!(a.head, Head::Softmax);
    assert_eq!(a.mixed_precision, MixedPrecision::Bf16);
    assert_eq!(a.train.max_steps, 1000);
    assert_eq!(a.train.max_train_seconds, 1800.0);
    assert_eq!(a.init_checkpoint, None);
}

#[test]
fn platform_keys_are_skipped_and_tf_flags_warned_about() {
    let hp = parse(json!({
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "s3://b/src.tar.gz",
        "_tuning_objective_metric": "f1",
        "use_tpu": "False",
        "num_tpu_cores": "8",
        "do_export": "False"
    }))
    .unwrap();
    assert_eq!(hp.warnings.len(), 3);
    assert!(hp.warnings.iter().any(|w| w.contains("use_tpu")));
}

#[test]
fn unknown_key_names_the_closest_valid_names() {
    let err = parse(json!({"learning_rat": "0.1"})).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ContractError::UnknownHyperparameter { .. }));
    assert!(
        text.contains("`learning_rat`") && text.contains("did you mean `learning_rate`"),
        "{text}"
    );

    let text = parse(json!({"epochs": "3"})).unwrap_err().to_string();
    assert!(text.contains("num_train_epochs"), "{text}");
}

#[test]
fn each_bad_type_names_key_value_and_expected_type() {
    let cases = [
        ("do_train", "yes please", "a boolean"),
        ("max_seq_length", "128.5", "an integer ≥ 3"),
        ("train_batch_size", "0", "an integer ≥ 1"),
        ("seed", "-1", "an integer ≥ 0"),
        ("learning_rate", "fast", "a number > 0"),
        ("learning_rate", "0", "a number > 0"),
        ("warmup_proportion", "1.5", "a number from 0 to 1"),
        ("validation_split", "1", "a number ≥ 0 and < 1"),
        ("hidden_dropout_prob", "nan", "a number ≥ 0 and < 1"),
        ("head", "lstm", "one of \"crf\", \"softmax\""),
        (
            "mixed_precision",
            "fp8",
            "one of \"auto\", \"bf16\", \"fp16\", \"off\"",
        ),
        (
            "data_format",
            "conll",
            "one of \"auto\", \"char_tag\", \"cluener\", \"span_jsonl\"",
        ),
        ("device", "tpu", "one of \"auto\", \"cpu\", \"cuda\""),
        ("task_name", "cls", "one of \"ner\""),
        ("eval_steps", "[1, 2]", "an integer ≥ 0"),
        ("max_train_seconds", "-60", "a number of seconds ≥ 0"),
        ("classifier_dropout_prob", "1", "a number ≥ 0 and < 1"),
        ("distributed", "maybe", "one of \"auto\", \"off\""),
        ("processes_per_host", "0", "an integer ≥ 1"),
        (
            "distributed_timeout_seconds",
            "0",
            "a number of seconds > 0",
        ),
        ("master_port", "70000", "a TCP port from 1 to 65535"),
    ];
    for (key, value, expected) in cases {
        let err = parse(json!({ key: value })).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ContractError::BadHyperparameter { .. }),
            "{text}"
        );
        assert!(text.contains(&format!("`{key}`")), "{text}");
        assert!(text.contains(&format!("{value:?}")), "{text}");
        assert!(text.contains(expected), "{key}: {text}");
    }
}

#[test]
fn cross_key_checks() {
    let text = parse(json!({"max_seq_length": "32", "window_stride": "30"}))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("window_stride") && text.contains("30"),
        "{text}"
    );
    assert!(parse(json!({"num_train_epochs": "0"})).is_err());
    assert!(parse(json!({"num_train_epochs": "0", "max_steps": "10"})).is_ok());
}

#[test]
fn resolved_json_holds_effective_values() {
    let hp = parse(article_sdk2()).unwrap();
    let resolved = hp.resolved_json();
    assert_eq!(resolved["learning_rate"], json!(2e-5));
    assert_eq!(resolved["train_batch_size"], json!(64));
    assert_eq!(resolved["eval_batch_size"], json!(64));
    assert_eq!(resolved["head"], json!("crf"));
    assert_eq!(resolved["labels_file"], Value::Null);
    // Writing it back as hyperparameters reproduces the run.
    let again = Hyperparameters::from_map(resolved.as_object().unwrap()).unwrap();
    assert_eq!(again, hp);
}

#[test]
fn load_reads_the_file_and_warns_about_output_dir() {
    let base = tempfile::tempdir().unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    // Absent file: all defaults.
    assert_eq!(
        Hyperparameters::load(&paths).unwrap(),
        parse(json!({})).unwrap()
    );

    std::fs::create_dir_all(paths.hyperparameters_file.parent().unwrap()).unwrap();
    std::fs::write(&paths.hyperparameters_file, article_sdk2().to_string()).unwrap();
    // /opt/ml/model maps onto this base's model dir: no warning.
    assert!(Hyperparameters::load(&paths).unwrap().warnings.is_empty());

    let mut other = article_sdk2();
    other["output_dir"] = json!("/tmp/elsewhere");
    std::fs::write(&paths.hyperparameters_file, other.to_string()).unwrap();
    let hp = Hyperparameters::load(&paths).unwrap();
    assert!(
        hp.warnings[0].contains("/tmp/elsewhere"),
        "{:?}",
        hp.warnings
    );

    std::fs::write(&paths.hyperparameters_file, "[1, 2]").unwrap();
    let text = Hyperparameters::load(&paths).unwrap_err().to_string();
    assert!(text.contains("hyperparameters.json"), "{text}");
    let _: Map<String, Value> = Map::new();
}

#[test]
fn a_key_given_twice_is_refused_naming_it() {
    let base = tempfile::tempdir().unwrap();
    let paths = SageMakerPaths::from_base(base.path()).unwrap();
    std::fs::create_dir_all(paths.hyperparameters_file.parent().unwrap()).unwrap();
    std::fs::write(
        &paths.hyperparameters_file,
        r#"{"learning_rate": "1e-4", "seed": "1", "learning_rate": "5e-4"}"#,
    )
    .unwrap();
    let text = Hyperparameters::load(&paths).unwrap_err().to_string();
    assert!(
        text.contains("hyperparameters.json")
            && text.contains("`learning_rate` is given twice")
            && text.contains("1e-4")
            && text.contains("5e-4"),
        "{text}"
    );
}

#[test]
fn null_values_take_the_default_with_a_warning() {
    for null in [json!(null), json!("None"), json!("null")] {
        let mut map = Map::new();
        map.insert("train_batch_size".into(), null);
        let hp = parse(Value::Object(map)).unwrap();
        assert_eq!(
            hp.train.train_batch_size,
            Hyperparameters::default().train.train_batch_size
        );
        assert!(
            hp.warnings
                .iter()
                .any(|w| w.contains("`train_batch_size`") && w.contains("default")),
            "{:?}",
            hp.warnings
        );
    }
}

#[test]
fn absurd_epoch_counts_are_refused() {
    let err = parse(json!({ "num_train_epochs": "1e30" }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("num_train_epochs") && err.contains("1e30"),
        "{err}"
    );
    assert_eq!(
        parse(json!({ "num_train_epochs": "1000000" }))
            .unwrap()
            .train
            .num_train_epochs,
        1e6
    );
}
