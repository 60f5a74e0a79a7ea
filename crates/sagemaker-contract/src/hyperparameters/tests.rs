use super::*;

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
    assert_eq!(hp.task_name, "ner");
    assert_eq!(hp.vocab_file, PathBuf::from("albert_config/vocab.txt"));
    assert_eq!(
        (hp.max_seq_length, hp.train_batch_size, hp.eval_batch_size),
        (128, 32, 64)
    );
    assert_eq!(
        (hp.learning_rate, hp.num_train_epochs, hp.warmup_proportion),
        (5e-5, 3.0, 0.1)
    );
    assert_eq!(hp.head, Head::Crf);
    assert_eq!(hp.crf_learning_rate_multiplier, 100.0);
    assert!(hp.do_train && hp.do_eval && hp.do_predict && hp.do_lower_case && hp.bio_constraints);
    assert_eq!(hp.resolved_json()["mixed_precision"], "auto");
    assert_eq!(hp.resolved_json()["data_format"], "auto");
}
