use super::*;
use ner_settings::{Device, Distributed, Encoder, Head, TaskName};

/// The setter table and `KNOWN` must not drift apart: every serialised field is a known key, and
/// feeding the resolved values back in reproduces the same struct.
#[test]
fn resolved_json_round_trips_and_matches_known_keys() {
    let hp = Hyperparameters {
        data_dir: Some("d".into()),
        hidden_dropout_prob: Some(0.2),
        pretrained_model_uri: Some("s3://b/k.zip".into()),
        head: Head::Softmax,
        ..Default::default()
    };
    let resolved = hp.resolved_json();
    let object = resolved.as_object().unwrap();
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut known = KNOWN_HYPERPARAMETERS.to_vec();
    names.sort();
    known.sort();
    assert_eq!(names, known);
    assert_eq!(Hyperparameters::from_map(object).unwrap(), hp);
}

#[test]
fn defaults_follow_the_brief() {
    let hp = Hyperparameters::from_map(&Map::new()).unwrap();
    assert_eq!(hp.task_name, TaskName::Ner);
    assert_eq!(hp.vocab_file, PathBuf::from("albert_config/vocab.txt"));
    assert_eq!(
        (
            hp.model.max_seq_length,
            hp.train.train_batch_size,
            hp.train.eval_batch_size
        ),
        (128, 32, 64)
    );
    assert_eq!(
        (
            hp.train.learning_rate,
            hp.train.num_train_epochs,
            hp.train.warmup_proportion
        ),
        (5e-5, 3.0, 0.1)
    );
    assert_eq!(hp.head, Head::Crf);
    assert_eq!(hp.train.crf_learning_rate_multiplier, 100.0);
    assert!(
        hp.do_train
            && hp.do_eval
            && hp.do_predict
            && hp.model.do_lower_case
            && hp.model.bio_constraints
    );
    assert_eq!(hp.resolved_json()["mixed_precision"], "auto");
    assert_eq!(hp.resolved_json()["data_format"], "auto");
    // The launch's and the rest of the choices' defaults.
    assert_eq!(
        (hp.encoder, hp.device, hp.distributed),
        (Encoder::Albert, Device::Auto, Distributed::Auto)
    );
    assert_eq!(
        (hp.master_port, hp.distributed_timeout_seconds),
        (7777, 600.0)
    );
    assert_eq!(hp.model.window_stride, 32);
}

/// Every setting the trainer and the saved model take, each given a value of its own: each key must
/// land in its own field (a setter writing a neighbour of the same type would go unseen with
/// defaults), and the resolved JSON must give the same job back.
#[test]
fn every_train_and_model_setting_lands_in_its_own_field() {
    let given = serde_json::json!({
        "num_train_epochs": "4", "max_steps": "11", "max_train_seconds": "12.5",
        "train_batch_size": "13", "eval_batch_size": "14", "learning_rate": "0.0015",
        "crf_learning_rate_multiplier": "16", "lstm_learning_rate_multiplier": "17",
        "weight_decay": "0.018", "warmup_proportion": "0.19", "max_grad_norm": "2.0",
        "gradient_accumulation_steps": "21", "seed": "22", "logging_steps": "23",
        "eval_steps": "24", "early_stopping_patience": "25", "save_checkpoints_steps": "26",
        "keep_checkpoints": "27", "max_seq_length": "100", "window_stride": "29",
        "do_lower_case": "false", "bio_constraints": "false"
    });
    let hp = Hyperparameters::from_map(given.as_object().unwrap()).unwrap();
    let t = &hp.train;
    assert_eq!(
        (t.num_train_epochs, t.max_steps, t.max_train_seconds),
        (4.0, 11, 12.5)
    );
    assert_eq!(
        (t.train_batch_size, t.eval_batch_size, t.learning_rate),
        (13, 14, 0.0015)
    );
    assert_eq!(
        (
            t.crf_learning_rate_multiplier,
            t.lstm_learning_rate_multiplier
        ),
        (16.0, 17.0)
    );
    assert_eq!(
        (t.weight_decay, t.warmup_proportion, t.max_grad_norm),
        (0.018, 0.19, 2.0)
    );
    assert_eq!(
        (
            t.gradient_accumulation_steps,
            t.seed,
            t.logging_steps,
            t.eval_steps
        ),
        (21, 22, 23, 24)
    );
    assert_eq!(
        (
            t.early_stopping_patience,
            t.save_checkpoints_steps,
            t.keep_checkpoints
        ),
        (25, 26, 27)
    );
    let m = &hp.model;
    assert_eq!((m.max_seq_length, m.window_stride), (100, 29));
    assert!(!m.do_lower_case && !m.bio_constraints);
    let resolved = hp.resolved_json();
    assert_eq!(resolved["eval_steps"], 24);
    assert_eq!(resolved["window_stride"], 29);
    assert_eq!(
        Hyperparameters::from_map(resolved.as_object().unwrap()).unwrap(),
        hp
    );
}

#[test]
fn encoder_defaults_apply_only_to_keys_not_given() {
    let parse = |pairs: &[(&str, &str)]| {
        let map: Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        Hyperparameters::from_map(&map).unwrap()
    };
    let albert = parse(&[]);
    assert_eq!(albert.encoder, Encoder::Albert);
    assert_eq!(
        (
            albert.train.learning_rate,
            albert.train.crf_learning_rate_multiplier,
            albert.train.lstm_learning_rate_multiplier
        ),
        (5e-5, 100.0, 1.0)
    );
    let bilstm = parse(&[("encoder", "bilstm")]);
    assert_eq!(
        (
            bilstm.train.learning_rate,
            bilstm.train.crf_learning_rate_multiplier,
            bilstm.train.lstm_learning_rate_multiplier
        ),
        (BILSTM_LEARNING_RATE, 1.0, 1.0)
    );
    let given = parse(&[
        ("encoder", "bilstm"),
        ("learning_rate", "0.01"),
        ("crf_learning_rate_multiplier", "3"),
    ]);
    assert_eq!(
        (
            given.train.learning_rate,
            given.train.crf_learning_rate_multiplier
        ),
        (0.01, 3.0)
    );
    let over_albert = parse(&[
        ("encoder", "albert_bilstm"),
        ("crf_learning_rate_multiplier", "20"),
    ]);
    assert_eq!(over_albert.train.lstm_learning_rate_multiplier, 20.0);
    assert_eq!(over_albert.train.learning_rate, 5e-5);
    let sized = parse(&[
        ("encoder", "albert_bilstm"),
        ("lstm_hidden_size", "64"),
        ("lstm_layers", "2"),
        ("lstm_dropout", "0.25"),
        ("char_embedding_size", "300"),
        ("lstm_learning_rate_multiplier", "7"),
    ]);
    assert_eq!(
        (
            sized.lstm_hidden_size,
            sized.lstm_layers,
            sized.lstm_dropout,
            sized.char_embedding_size,
            sized.train.lstm_learning_rate_multiplier
        ),
        (64, 2, 0.25, 300, 7.0)
    );
    // Resolved values fed back reproduce the job (what hyperparameters.json next to the model records).
    let resolved = bilstm.resolved_json();
    assert_eq!(
        Hyperparameters::from_map(resolved.as_object().unwrap()).unwrap(),
        bilstm
    );
}

#[test]
fn encoder_values_are_checked_naming_the_key() {
    for (key, value) in [
        ("encoder", "transformer"),
        ("lstm_layers", "0"),
        ("lstm_dropout", "1"),
        ("lstm_hidden_size", "-3"),
    ] {
        let map: Map<String, serde_json::Value> =
            [(key.to_string(), serde_json::Value::from(value))]
                .into_iter()
                .collect();
        let err = Hyperparameters::from_map(&map).unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains(value),
            "{key}={value}: {err}"
        );
    }
}

#[test]
fn keys_the_encoder_cannot_use_are_named_in_a_warning() {
    let parse = |pairs: &[(&str, &str)]| {
        let map: Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        Hyperparameters::from_map(&map).unwrap().warnings
    };
    let bilstm = parse(&[
        ("encoder", "bilstm"),
        ("bert_config_file", "albert_config/albert_config_tiny.json"),
        ("hidden_dropout_prob", "0.2"),
        ("lstm_layers", "2"),
    ]);
    assert_eq!(bilstm.len(), 2, "{bilstm:?}");
    assert!(bilstm
        .iter()
        .any(|w| w.contains("`bert_config_file` is not used by encoder=bilstm")));
    assert!(bilstm
        .iter()
        .any(|w| w.contains("`hidden_dropout_prob` is not used by encoder=bilstm")));
    let albert = parse(&[("lstm_dropout", "0.3"), ("char_embedding_size", "50")]);
    assert_eq!(albert.len(), 2, "{albert:?}");
    assert!(albert
        .iter()
        .all(|w| w.contains("not used by encoder=albert")));
    let albert_bilstm = parse(&[
        ("encoder", "albert_bilstm"),
        ("lstm_dropout", "0.3"),
        ("hidden_dropout_prob", "0.2"),
    ]);
    assert!(albert_bilstm.is_empty(), "{albert_bilstm:?}");
}
