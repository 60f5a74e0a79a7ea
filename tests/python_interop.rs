//! A model `train` saved loads in Python with HF transformers + pytorch-crf and decodes the same tags as
//! `predict`: the README's own snippet is what runs here.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{check, fast, Job, REPO};

fn venv_python() -> PathBuf {
    let p = std::env::var_os("ALBERT_NER_PYTHON").map_or_else(
        || PathBuf::from(REPO).join(".venv/bin/python"),
        PathBuf::from,
    );
    assert!(p.exists(), "{} missing: run `make venv`", p.display());
    p
}

/// The ```python block under "### The model from Python" in README.md.
fn readme_snippet() -> String {
    let readme = std::fs::read_to_string(PathBuf::from(REPO).join("README.md")).unwrap();
    let section = readme
        .split("### The model from Python")
        .nth(1)
        .expect("README section");
    let code = section.split("```python\n").nth(1).expect("python block");
    code.split("```").next().unwrap().to_string()
}

#[test]
fn readme_python_snippet_decodes_what_predict_decodes() {
    let job = Job::new(40, 8, 0);
    job.hyperparameters(&fast(&[("num_train_epochs", "2")]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    let text = "王小明在北京大学读书。";

    let snippet = readme_snippet();
    assert!(
        snippet.contains(r#"d = "local_test/test_dir/model""#)
            && snippet.contains(&format!("text = \"{text}\""))
    );
    let snippet = snippet.replace(
        r#"d = "local_test/test_dir/model""#,
        &format!("d = {:?}", model.display().to_string()),
    );
    let py = Command::new(venv_python())
        .arg("-c")
        .arg(&snippet)
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .unwrap();
    check(&py, py.status.success(), "the README snippet runs");
    let printed = String::from_utf8(py.stdout).unwrap();
    let python_tags: Vec<String> = printed
        .split("('")
        .skip(1)
        .map(|item| {
            item.split("', '")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();

    std::fs::write(job.dir.path().join("in.txt"), format!("{text}\n")).unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_predict"))
        .args([
            "--model-dir",
            model.to_str().unwrap(),
            "--format",
            "bio",
            "--bio-constraints",
            "false",
            "--input",
        ])
        .arg(job.dir.path().join("in.txt"))
        .output();
    let ours = ours.unwrap();
    check(&ours, ours.status.success(), "predict");
    let rust_tags: Vec<String> = String::from_utf8(ours.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        python_tags.len(),
        text.chars().count(),
        "python printed: {printed}"
    );
    assert_eq!(
        python_tags, rust_tags,
        "pytorch-crf and our Viterbi must agree on the same weights"
    );
}
