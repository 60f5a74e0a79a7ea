//! `export` writes networks that decode, outside this program, exactly the tags `predict` decodes: the
//! ONNX file run by onnxruntime and the TorchScript file by `torch.jit.load`, each followed by a Viterbi
//! in numpy over the tables of its manifest (`tests/py/export_decode.py`), on 200 MSRA test sentences in
//! padded batches of several sizes; for ALBERT with a CRF and with a softmax head, BERT, a BiLSTM and
//! ALBERT+BiLSTM; onnxruntime's own int8 quantization of the ONNX file; and the README's snippets on
//! one sentence. Each sentence is one window here (`predict --max-seq-length 512`):
//! splitting a long text into overlapping windows and merging their tags stays the user's part (the
//! manifest's `how_to_use`), and is not what these tests check.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{check, fast, run_predict, stderr, venv_python, Job, REPO};
use ner_data::{features, units_to_char_tags, LabelSet, Sentence, Tokenizer};
use ner_infer::ModelDir;
use serde_json::Value;

const SENTENCES: usize = 200;
/// One window per sentence: the sample's longest sentence has 267 characters.
const WINDOW: &str = "512";

/// Trains `hyperparameters` on 40 sentences to the end (no validation, so the last model is kept) and
/// checks both exports against `predict`.
fn exports_decode_what_predict_decodes(hyperparameters: &[(&'static str, &'static str)]) {
    let job = Job::new(40, 0, 0);
    let mut hyperparameters = hyperparameters.to_vec();
    hyperparameters.push(("validation_split", "0"));
    job.hyperparameters(&fast(&hyperparameters));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    let texts = test_texts();
    let expected = predict_tags(&model, &texts);
    let entity_tags = expected.iter().flatten().filter(|t| *t != "O").count();
    assert!(
        entity_tags >= 20,
        "the model tags entities ({entity_tags} non-O tags), so the comparison is not all-O against all-O"
    );
    let windows = job.dir.path().join("windows.json");
    let (units, readme_text) = write_windows(&model, &texts, &expected, &windows);

    // TorchScript into the model directory (the default), ONNX elsewhere (with the vocabulary).
    let torchscript = export(&model, "torchscript", None);
    assert_eq!(torchscript, model.join("emissions.pt"));
    let onnx_dir = job.dir.path().join("onnx");
    let onnx = export(&model, "onnx", Some(&onnx_dir));
    assert_eq!(onnx, onnx_dir.join("emissions.onnx"));
    assert_eq!(
        std::fs::read(onnx_dir.join("vocab.txt")).unwrap(),
        std::fs::read(model.join("vocab.txt")).unwrap()
    );
    // Both formats into one directory: each network keeps its own manifest.
    export(&model, "onnx", None);
    let manifest = |path: PathBuf| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (torchscript, onnx) = (
        manifest(model.join("emissions.pt.json")),
        manifest(onnx_dir.join("emissions.onnx.json")),
    );
    assert_eq!(onnx["opset"], 17);
    assert_eq!(
        (&onnx["format"], &onnx["file"]),
        (&"onnx".into(), &"emissions.onnx".into())
    );
    assert_eq!(torchscript["format"], "torchscript");
    assert!(torchscript.get("opset").is_none());
    assert_eq!(manifest(model.join("emissions.onnx.json")), onnx);

    let readme_expected = &expected[texts.iter().position(|t| *t == readme_text).unwrap()];
    for (dir, format) in [(&model, "torchscript"), (&onnx_dir, "onnx")] {
        assert_eq!(
            &readme_tags(format, dir, &readme_text),
            readme_expected,
            "README's {format} snippet on {readme_text}"
        );
    }

    for manifest in [
        model.join("emissions.pt.json"),
        onnx_dir.join("emissions.onnx.json"),
    ] {
        let unit_tags = python_unit_tags(&manifest, &windows);
        assert_eq!(unit_tags.len(), texts.len(), "one decoding per sentence");
        for (i, (tags, units)) in unit_tags.iter().zip(&units).enumerate() {
            assert_eq!(
                units_to_char_tags(tags, units),
                expected[i],
                "{}: sentence {} ({}) decodes otherwise than predict",
                manifest.display(),
                i + 1,
                texts[i]
            );
        }
    }
    onnx_int8_tags_near_predict(
        &onnx_dir.join("emissions.onnx.json"),
        &model,
        &windows,
        &units,
        &expected,
    );
}

/// onnxruntime's own dynamic quantization works on the export, as a user would run it: the weights are
/// initializers, each stored once (the trace holds them as constants, ALBERT's shared layer once per
/// use, which `quantize_dynamic` leaves in fp32), every MatMul with a weight becomes a MatMulInteger and
/// none is left fed an fp32 weight, and the int8 network tags as predict's fp32 on at least 90 % of the
/// characters that either tags as part of an entity (all-`O` tags would score 0).
fn onnx_int8_tags_near_predict(
    manifest: &Path,
    model: &Path,
    windows: &Path,
    units: &[Vec<ner_data::Unit>],
    expected: &[Vec<String>],
) {
    let out = manifest.parent().unwrap().join("int8");
    let py = Command::new(venv_python())
        .arg(PathBuf::from(REPO).join("tests/py/onnx_int8.py"))
        .arg(manifest)
        .arg(model.join("model.safetensors"))
        .arg(&out)
        .output()
        .unwrap();
    check(&py, py.status.success(), "onnx_int8.py");
    let stdout = String::from_utf8(py.stdout).unwrap();
    let facts: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let count = |key: &str| facts[key].as_u64().unwrap();
    assert_eq!(
        count("weight_constants"),
        0,
        "weights are initializers: {facts}"
    );
    assert_eq!(
        count("repeated_initializers"),
        0,
        "each weight is stored once: {facts}"
    );
    // The graph's own small tables (shapes, position ids) are allowed for; one more copy of a layer is not.
    assert!(
        count("initializer_bytes") <= count("safetensors_tensor_bytes") + 64 * 1024,
        "the network holds no more than the model's tensors: {facts}"
    );
    assert!(
        count("weight_matmuls") >= 1
            && count("matmul_integer") == count("weight_matmuls")
            && count("float_weight_matmuls") == 0,
        "every MatMul with a weight is quantized: {facts}"
    );
    let unit_tags = python_unit_tags(&out.join("emissions.int8.onnx.json"), windows);
    let int8: Vec<String> = unit_tags
        .iter()
        .zip(units)
        .flat_map(|(tags, units)| units_to_char_tags(tags, units))
        .collect();
    let fp32: Vec<&String> = expected.iter().flatten().collect();
    assert_eq!(int8.len(), fp32.len(), "one tag per character");
    let in_entities: Vec<bool> = int8
        .iter()
        .zip(&fp32)
        .map(|(a, b)| a != "O" || *b != "O")
        .collect();
    let entity_chars = in_entities.iter().filter(|e| **e).count();
    let same = int8
        .iter()
        .zip(&fp32)
        .zip(&in_entities)
        .filter(|((a, b), e)| **e && a == *b)
        .count();
    let agreement = same as f64 / entity_chars as f64;
    eprintln!(
        "{}: onnxruntime int8 tags {same} of {entity_chars} entity characters as predict fp32 ({facts})",
        model.display()
    );
    assert!(
        agreement >= 0.9,
        "onnxruntime int8 agrees with predict's fp32 tags on {same} of the {entity_chars} characters either \
         tags as part of an entity"
    );
}

#[test]
fn albert_exports_decode_what_predict_decodes() {
    exports_decode_what_predict_decodes(&[
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("learning_rate", "0.003"),
        ("num_train_epochs", "8"),
    ]);
}

/// The softmax head decodes by Viterbi over log-softmax scores under the BIO constraints (the manifest's
/// zero transitions and masks).
#[test]
fn softmax_head_exports_decode_what_predict_decodes() {
    exports_decode_what_predict_decodes(&[
        ("head", "softmax"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("learning_rate", "0.003"),
        ("num_train_epochs", "8"),
    ]);
}

#[test]
fn bilstm_exports_decode_what_predict_decodes() {
    exports_decode_what_predict_decodes(&[
        ("encoder", "bilstm"),
        ("char_embedding_size", "16"),
        ("lstm_hidden_size", "24"),
        ("lstm_layers", "2"),
        ("learning_rate", "0.03"),
        ("lstm_dropout", "0"),
        ("num_train_epochs", "15"),
    ]);
}

#[test]
fn bert_exports_decode_what_predict_decodes() {
    exports_decode_what_predict_decodes(&[
        ("encoder", "bert"),
        ("bert_config_file", "bert_micro.json"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("learning_rate", "0.003"),
        ("num_train_epochs", "8"),
    ]);
}

/// A transformer and an LSTM in one network.
#[test]
fn albert_bilstm_exports_decode_what_predict_decodes() {
    exports_decode_what_predict_decodes(&[
        ("encoder", "albert_bilstm"),
        ("lstm_hidden_size", "16"),
        ("max_seq_length", "32"),
        ("window_stride", "8"),
        ("learning_rate", "0.002"),
        ("crf_learning_rate_multiplier", "10"),
        ("num_train_epochs", "30"),
    ]);
}

#[test]
fn export_refuses_what_it_cannot_do_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-model");
    let o = run_export(&missing, "torchscript", None, &[]);
    check(&o, !o.status.success(), "a missing model directory fails");
    assert!(stderr(&o).contains("no-model"), "{}", stderr(&o));

    let o = run_export(&missing, "tflite", None, &[]);
    check(&o, !o.status.success(), "an unknown format fails");
    assert!(
        stderr(&o).contains("\"torchscript\"") && stderr(&o).contains("\"onnx\""),
        "the error lists the formats: {}",
        stderr(&o)
    );

    let job = Job::new(8, 0, 0);
    job.hyperparameters(&fast(&[("max_steps", "1")]));
    let o = job.train();
    check(&o, o.status.success(), "train");
    let model = job.base().join("model");
    let out = dir.path().join("out");

    let nowhere = dir.path().join("no-python");
    let o = run_export(
        &model,
        "onnx",
        Some(&out),
        &[("ALBERT_NER_PYTHON", &nowhere)],
    );
    check(&o, !o.status.success(), "a missing interpreter fails");
    assert!(
        stderr(&o).contains("no-python") && stderr(&o).contains("ALBERT_NER_PYTHON"),
        "{}",
        stderr(&o)
    );

    // The venv's interpreter without its site-packages: no torch, no onnx.
    let bare = dir.path().join("bare-python");
    std::fs::write(
        &bare,
        format!("#!/bin/sh\nexec {} -S \"$@\"\n", venv_python().display()),
    )
    .unwrap();
    std::fs::set_permissions(&bare, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = run_export(&model, "onnx", Some(&out), &[("ALBERT_NER_PYTHON", &bare)]);
    check(
        &o,
        !o.status.success(),
        "a Python without the packages fails",
    );
    assert!(
        stderr(&o).contains("lacks the Python package") && stderr(&o).contains("pip install"),
        "{}",
        stderr(&o)
    );
    assert!(
        !out.join("emissions.onnx").exists() && !out.join("emissions.traced.pt").exists(),
        "a failed export leaves no network behind"
    );
}

/// `export --model-dir MODEL --format FORMAT [--out OUT]` with `env` set.
fn run_export(model: &Path, format: &str, out: Option<&Path>, env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_export"));
    c.arg("--model-dir").arg(model).args(["--format", format]);
    if let Some(out) = out {
        c.arg("--out").arg(out);
    }
    c.env("ALBERT_NER_PYTHON", venv_python());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Exports and returns the path the binary printed (the network's).
fn export(model: &Path, format: &str, out: Option<&Path>) -> PathBuf {
    let o = run_export(model, format, out, &[]);
    check(&o, o.status.success(), &format!("export --format {format}"));
    let printed = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
    assert!(printed.is_file(), "{} written", printed.display());
    printed
}

/// The first [`SENTENCES`] sentences of the committed MSRA test sample, as raw text.
fn test_texts() -> Vec<String> {
    common::sample_test_sentences()
        .into_iter()
        .take(SENTENCES)
        .collect()
}

/// `predict`'s tags of each text, one window per text, in fp32 as the exported network computes.
fn predict_tags(model: &Path, texts: &[String]) -> Vec<Vec<String>> {
    let o = run_predict(
        model,
        &[
            "--format",
            "bio",
            "--max-seq-length",
            WINDOW,
            "--precision",
            "fp32",
        ],
        &(texts.join("\n") + "\n"),
    );
    check(&o, o.status.success(), "predict");
    let tags: Vec<Vec<String>> = String::from_utf8(o.stdout)
        .unwrap()
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            block
                .lines()
                .map(|l| l.rsplit(' ').next().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(tags.len(), texts.len(), "one block per sentence");
    tags
}

/// Writes each text's window (its ids and the position of each unit's first piece, by our tokenizer,
/// as `predict` makes them) for the Python side. Returns each text's units, to map unit tags to chars,
/// and a text for the README's snippets: one with entity tags in `expected` whose ids are one vocabulary
/// entry per character (the snippets' tokenisation).
fn write_windows(
    model: &Path,
    texts: &[String],
    expected: &[Vec<String>],
    path: &Path,
) -> (Vec<Vec<ner_data::Unit>>, String) {
    let dir = ModelDir::new(model);
    let settings = dir.read_settings().unwrap();
    let tokenizer = Tokenizer::from_vocab_file(&dir.vocab_path(), settings.do_lower_case).unwrap();
    let (_, _, spec, _) = dir.read_tagger(tch::Device::Cpu).unwrap();
    let labels = LabelSet::from_labels(&spec.labels, &dir.config_path()).unwrap();
    let sentences: Vec<Sentence> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Sentence::untagged(t, i + 1))
        .collect();
    let window: usize = WINDOW.parse().unwrap();
    let windows = features(&sentences, &tokenizer, &labels, window, 8).unwrap();
    assert_eq!(windows.len(), texts.len(), "one window per sentence");
    let json: Vec<Value> = windows
        .iter()
        .map(|w| serde_json::json!({"input_ids": w.input_ids, "tag_positions": w.tag_positions}))
        .collect();
    std::fs::write(path, serde_json::to_string(&json).unwrap()).unwrap();
    let per_char = |text: &str| -> Vec<i64> {
        let ids = text.chars().map(|c| {
            tokenizer
                .id(&c.to_string())
                .unwrap_or_else(|| tokenizer.unk_id())
        });
        std::iter::once(tokenizer.cls_id())
            .chain(ids)
            .chain([tokenizer.sep_id()])
            .collect()
    };
    let readme_text = (0..texts.len())
        .find(|&i| {
            expected[i].iter().any(|t| t != "O") && windows[i].input_ids == per_char(&texts[i])
        })
        .map(|i| texts[i].clone())
        .expect("a CJK sentence with entities");
    let units = sentences
        .iter()
        .map(|s| tokenizer.tokenize_sentence(s).units)
        .collect();
    (units, readme_text)
}

/// The tags README's snippet for `format` prints for `text` with the export in `dir`: the ONNX block,
/// whose lines the TorchScript block replaces (its assignments) or precedes (its imports).
fn readme_tags(format: &str, dir: &Path, text: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(PathBuf::from(REPO).join("README.md")).unwrap();
    let section = readme
        .split("## Exporting: ONNX and TorchScript")
        .nth(1)
        .unwrap();
    let blocks: Vec<&str> = section
        .split("```python\n")
        .skip(1)
        .take(2)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let mut snippet = blocks[0].to_string();
    if format == "torchscript" {
        for line in blocks[1].lines() {
            match line.split_once(" = ") {
                Some((name, _)) => {
                    let onnx = blocks[0]
                        .lines()
                        .find(|l| l.starts_with(&format!("{name} = ")))
                        .expect("the ONNX block assigns the same name");
                    snippet = snippet.replace(onnx, line);
                }
                None => snippet = format!("{line}\n{snippet}"),
            }
        }
    }
    for (from, to) in [
        (
            "d = \"local_test/test_dir/model\"",
            format!("d = {:?}", dir.display().to_string()),
        ),
        (
            "text = \"王小明在北京大学读书。\"",
            format!("text = {text:?}"),
        ),
    ] {
        assert!(snippet.contains(from), "README's snippet has {from}");
        snippet = snippet.replace(from, &to);
    }
    let py = Command::new(venv_python())
        .arg("-c")
        .arg(&snippet)
        .output()
        .unwrap();
    check(&py, py.status.success(), "README's export snippet");
    let printed = String::from_utf8(py.stdout).unwrap();
    let tags: Vec<String> = printed
        .split("', '")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap().to_string())
        .collect();
    assert_eq!(tags.len(), text.chars().count(), "printed: {printed}");
    tags
}

/// Each window's unit tags as `tests/py/export_decode.py` decodes them with the export `manifest`
/// describes.
fn python_unit_tags(manifest: &Path, windows: &Path) -> Vec<Vec<String>> {
    let py = Command::new(venv_python())
        .arg(PathBuf::from(REPO).join("tests/py/export_decode.py"))
        .arg(manifest)
        .arg(windows)
        .output()
        .unwrap();
    check(&py, py.status.success(), "export_decode.py");
    String::from_utf8(py.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
