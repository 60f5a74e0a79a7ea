//! A model `train` saved loads in Python and decodes the same tags as `predict`: ALBERT with HF
//! transformers + pytorch-crf, the BiLSTM with `torch.nn` modules + pytorch-crf. The README's own
//! snippets are what run here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{check, fast, venv_python, Job, REPO};

const TEXT: &str = "王小明在北京大学读书。";
const README_MODEL_DIR: &str = r#"d = "local_test/test_dir/model""#;

/// The ```python block under `heading` in README.md.
fn readme_snippet(heading: &str) -> String {
    let readme = std::fs::read_to_string(PathBuf::from(REPO).join("README.md")).unwrap();
    let section = readme.split(heading).nth(1).expect("README section");
    let code = section.split("```python\n").nth(1).expect("python block");
    code.split("```").next().unwrap().to_string()
}

/// The tags the snippet under `heading` prints for `text` (in place of the README's [`TEXT`]) with the
/// model in `model`.
fn python_tags(heading: &str, model: &Path, text: &str) -> Vec<String> {
    let snippet = readme_snippet(heading);
    assert!(
        snippet.contains(README_MODEL_DIR) && snippet.contains(&format!("text = \"{TEXT}\"")),
        "{heading}: the snippet names the demo's model and the text"
    );
    let snippet = snippet
        .replace(
            README_MODEL_DIR,
            &format!("d = {:?}", model.display().to_string()),
        )
        .replace(&format!("text = \"{TEXT}\""), &format!("text = \"{text}\""));
    let py = Command::new(venv_python())
        .arg("-c")
        .arg(&snippet)
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .unwrap();
    check(&py, py.status.success(), "the README snippet runs");
    let printed = String::from_utf8(py.stdout).unwrap();
    let tags: Vec<String> = printed
        .split("('")
        .skip(1)
        .map(|item| {
            let tag = item.split("', '").nth(1).unwrap();
            tag.split('\'').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        tags.len(),
        text.chars().count(),
        "python printed: {printed}"
    );
    tags
}

/// What `predict` tags `text` with (Viterbi without BIO constraints, as pytorch-crf decodes).
fn predict_tags(job: &Job, model: &Path, text: &str) -> Vec<String> {
    std::fs::write(job.dir.path().join("in.txt"), format!("{text}\n")).unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_predict"))
        .args(["--model-dir", model.to_str().unwrap(), "--format", "bio"])
        // fp32: the reference computes in fp32 (`auto` would quantize on a CPU).
        .args([
            "--precision",
            "fp32",
            "--bio-constraints",
            "false",
            "--input",
        ])
        .arg(job.dir.path().join("in.txt"))
        .output()
        .unwrap();
    check(&ours, ours.status.success(), "predict");
    String::from_utf8(ours.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn readme_python_snippet_decodes_what_predict_decodes() {
    let job = Job::new(40, 8, 0);
    job.hyperparameters(&fast(&[("num_train_epochs", "2")]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    assert_eq!(
        python_tags("### The model from Python", &model, TEXT),
        predict_tags(&job, &model, TEXT),
        "pytorch-crf and our Viterbi must agree on the same weights"
    );
}

#[test]
fn readme_python_snippet_decodes_a_bert_model_as_predict_does() {
    let job = Job::new(40, 0, 0);
    let bert = r#"{"hidden_act": "gelu", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
                   "num_hidden_layers": 2, "max_position_embeddings": 512, "type_vocab_size": 2,
                   "vocab_size": 21128, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}"#;
    std::fs::write(job.workdir().join("bert.json"), bert).unwrap();
    job.hyperparameters(&fast(&[
        ("encoder", "bert"),
        ("bert_config_file", "bert.json"),
        ("learning_rate", "0.003"),
        ("num_train_epochs", "15"),
        ("validation_split", "0"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    // A training sentence with a place, which the model has learnt, so that the comparison is not
    // all-O against all-O (transformers would still run on random weights if it loaded none).
    let text = short_training_sentence_with_a_place(&job);
    let python = python_tags("### The model from Python", &model, &text);
    assert_eq!(
        python,
        predict_tags(&job, &model, &text),
        "transformers' BertModel + pytorch-crf and ours must agree on the same weights"
    );
    assert!(
        python.iter().any(|t| t != "O"),
        "the model tags some entity of {text}: {python:?}"
    );
}

/// A training sentence with a place, short enough for one window (the snippets read it whole).
fn short_training_sentence_with_a_place(job: &Job) -> String {
    let train = job.read("input/data/training/train.txt");
    train
        .split("\n\n")
        .map(|block| block.lines().collect::<Vec<_>>())
        .find(|lines| lines.len() <= 60 && lines.iter().any(|l| l.ends_with("B-LOC")))
        .expect("a short training sentence with a place")
        .iter()
        .filter_map(|l| l.split(' ').next())
        .collect()
}

#[test]
fn readme_bilstm_snippet_decodes_what_predict_decodes() {
    let job = Job::new(40, 0, 0);
    job.hyperparameters(&fast(&[
        ("encoder", "bilstm"),
        ("char_embedding_size", "16"),
        ("lstm_hidden_size", "24"),
        ("lstm_layers", "2"),
        ("learning_rate", "0.03"),
        ("lstm_dropout", "0"),
        ("num_train_epochs", "15"),
        ("validation_split", "0"),
    ]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    // The model, trained to the end without validation, has learnt this sentence's place, so the
    // comparison is not all-O against all-O.
    let text = short_training_sentence_with_a_place(&job);
    let python = python_tags("### A BiLSTM model from Python", &model, &text);
    assert_eq!(
        python,
        predict_tags(&job, &model, &text),
        "torch.nn.LSTM + pytorch-crf and our packed LSTM + Viterbi must agree on the same weights"
    );
    assert!(
        python.iter().any(|t| t != "O"),
        "the model tags some entity of {text}: {python:?}"
    );
}
