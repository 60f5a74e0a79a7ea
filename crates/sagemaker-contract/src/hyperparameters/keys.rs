//! The accepted hyperparameter names, the ones accepted only to be ignored, and "did you mean"
//! suggestions for the rest. A typo must fail the job at once rather than silently train with a
//! default, because a SageMaker job is expensive to rerun.

/// Every hyperparameter with a meaning in this container (flags of the replaced `albert_ner.py`
/// first, then this container's own).
pub const KNOWN: &[&str] = &[
    "task_name",
    "data_dir",
    "bert_config_file",
    "vocab_file",
    "output_dir",
    "init_checkpoint",
    "do_lower_case",
    "max_seq_length",
    "do_train",
    "do_eval",
    "do_predict",
    "train_batch_size",
    "eval_batch_size",
    "predict_batch_size",
    "learning_rate",
    "num_train_epochs",
    "warmup_proportion",
    "save_checkpoints_steps",
    "task",
    "masking_rate",
    "sentence_order_prediction",
    "head",
    "crf_learning_rate_multiplier",
    "encoder",
    "char_embedding_size",
    "lstm_hidden_size",
    "lstm_layers",
    "lstm_dropout",
    "lstm_learning_rate_multiplier",
    "weight_decay",
    "max_grad_norm",
    "gradient_accumulation_steps",
    "seed",
    "mixed_precision",
    "logging_steps",
    "eval_steps",
    "early_stopping_patience",
    "data_format",
    "labels_file",
    "window_stride",
    "validation_split",
    "bio_constraints",
    "keep_checkpoints",
    "max_steps",
    "max_train_seconds",
    "pretrained_model_uri",
    "device",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "classifier_dropout_prob",
    "distributed",
    "processes_per_host",
    "distributed_timeout_seconds",
    "master_port",
];

/// Flags of `albert_ner.py` that only meant something to TensorFlow (TPU estimator, SavedModel
/// export), plus `model_dir`, which SageMaker's TensorFlow estimator adds on its own. Accepted so
/// old launch scripts keep working; each one logs a warning.
pub const IGNORED: &[(&str, &str)] = &[
    ("use_tpu", "TPU training is TensorFlow-only"),
    ("tpu_name", "TPU training is TensorFlow-only"),
    ("tpu_zone", "TPU training is TensorFlow-only"),
    ("gcp_project", "TPU training is TensorFlow-only"),
    ("master", "TensorFlow master URLs have no equivalent here"),
    ("num_tpu_cores", "TPU training is TensorFlow-only"),
    (
        "iterations_per_loop",
        "TPU estimator loops have no equivalent here",
    ),
    (
        "do_export",
        "the model is always saved in Hugging Face layout, not as a TensorFlow SavedModel",
    ),
    (
        "model_dir",
        "the model is always written to SageMaker's model directory",
    ),
];

/// Whether SageMaker or its SDK, not the user, put this key in hyperparameters.json.
pub fn is_platform_key(key: &str) -> bool {
    key.starts_with("sagemaker_") || key == "_tuning_objective_metric"
}

/// Why an ignored key is ignored, if it is one.
pub fn ignored_reason(key: &str) -> Option<&'static str> {
    IGNORED
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, why)| *why)
}

/// Up to three known names close to `key`, closest first: small edit distance, or failing that,
/// one name containing the other (`epochs` → `num_train_epochs`).
pub fn suggestions(key: &str) -> Vec<String> {
    let wanted = key.to_ascii_lowercase().replace('-', "_");
    let limit = (wanted.len() / 3).max(2);
    let mut close: Vec<(usize, &str)> = KNOWN
        .iter()
        .map(|name| (strsim::damerau_levenshtein(&wanted, name), *name))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    if close.is_empty() && wanted.len() >= 3 {
        close = KNOWN
            .iter()
            .filter(|name| name.contains(&wanted) || wanted.contains(*name))
            .map(|name| (strsim::damerau_levenshtein(&wanted, name), *name))
            .collect();
    }
    close.sort();
    close
        .into_iter()
        .take(3)
        .map(|(_, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggestions("learning_rat")[0], "learning_rate");
        assert_eq!(suggestions("learning-rate")[0], "learning_rate");
        assert_eq!(suggestions("train_batchsize")[0], "train_batch_size");
        assert!(suggestions("epochs").contains(&"num_train_epochs".to_string()));
        assert!(suggestions("zzzzzzzzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn platform_keys() {
        assert!(is_platform_key("sagemaker_program"));
        assert!(is_platform_key("_tuning_objective_metric"));
        assert!(!is_platform_key("seed"));
    }
}
