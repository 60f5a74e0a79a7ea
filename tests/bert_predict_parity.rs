//! `predict` on a BERT model decodes exactly what transformers' `BertModel` + `nn.Linear` + pytorch-crf
//! decode on the same weights (BIO constraints off, as pytorch-crf has none), over 200 sentences of the
//! committed sample.

mod common;

use std::collections::HashSet;
use std::process::Command;

use albert_model::{save_model, BertConfig, EncoderSpec, Head, NerTagger, TaggerSpec};
use common::{check, REPO};
use tch::{nn, Device, Kind, Tensor};

const LABELS: [&str; 7] = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"];

/// Decodes each line of `INPUT` as the README's snippet does, one sentence at a time, and prints its
/// tags on one line.
const DECODE: &str = r#"
import json, sys, torch
from safetensors.torch import load_file
from torchcrf import CRF
from transformers import AutoModel, BertTokenizer

d, path = sys.argv[1], sys.argv[2]
bert = AutoModel.from_pretrained(d, add_pooling_layer=False).eval()
assert type(bert).__name__ == "BertModel", type(bert)
weights, config = load_file(f"{d}/model.safetensors"), json.load(open(f"{d}/config.json"))
labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
classifier = torch.nn.Linear(bert.config.hidden_size, len(labels))
classifier.load_state_dict({"weight": weights["classifier.weight"], "bias": weights["classifier.bias"]})
crf = CRF(len(labels), batch_first=True)
crf.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("crf.")})
tok = BertTokenizer(f"{d}/vocab.txt")
for text in open(path, encoding="utf-8").read().splitlines():
    ids = torch.tensor([tok.convert_tokens_to_ids(["[CLS]", *text, "[SEP]"])])
    with torch.no_grad():
        emissions = classifier(bert(ids).last_hidden_state[:, 1:-1])
    print(" ".join(labels[t] for t in crf.decode(emissions)[0]))
"#;

/// A random BERT tagger whose emissions and transitions are O(1), so that its paths are varied and far
/// from ties, saved with the shipped vocabulary.
fn random_bert_model(dir: &std::path::Path) {
    tch::manual_seed(5);
    let spec = TaggerSpec {
        encoder: EncoderSpec::Bert(BertConfig {
            vocab_size: 21128,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            ..BertConfig::default()
        }),
        labels: LABELS.iter().map(|l| l.to_string()).collect(),
        head: Head::Crf,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let _tagger = NerTagger::new(&vs.root(), &spec);
    tch::no_grad(|| {
        // In name order, so that the same seed gives the same model on every run.
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut v) in variables {
            let scale = if name.starts_with("bert.") { 0.1 } else { 1.0 };
            let _ = v.g_add_(&(Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * scale));
        }
    });
    save_model(dir, &vs, &spec, format!("{REPO}/albert_config/vocab.txt")).unwrap();
}

/// A character every BERT tokenizer makes a token of its own: a CJK ideograph, or punctuation (CJK,
/// full-width, general, `·`). Letters, digits (full-width `２１` too) and symbols such as `○` join their
/// neighbours in runs that become word pieces.
fn one_token(c: char) -> bool {
    let ranges = [
        '\u{4e00}'..='\u{9fff}',
        '\u{3000}'..='\u{303f}',
        '\u{2010}'..='\u{2027}',
        '\u{ff01}'..='\u{ff0f}',
        '\u{ff1a}'..='\u{ff20}',
        '\u{00b7}'..='\u{00b7}',
    ];
    ranges.iter().any(|r| r.contains(&c))
}

/// The first `n` sentences of the sample's test and validation splits that fit one window and are one token per
/// character for any BERT tokenizer (every character one token and in the vocabulary).
fn sentences(n: usize) -> Vec<String> {
    let vocab = std::fs::read_to_string(format!("{REPO}/albert_config/vocab.txt")).unwrap();
    let vocab: HashSet<&str> = vocab.lines().collect();
    let data = format!("{REPO}/local_test/test_dir/input/data");
    let text = ["test/test.txt", "validation/dev.txt"]
        .map(|f| std::fs::read_to_string(format!("{data}/{f}")).unwrap())
        .join("\n\n");
    let found: Vec<String> = text
        .split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split(' ').next())
                .collect::<String>()
        })
        .filter(|s| {
            !s.is_empty()
                && s.chars().count() <= 126
                && s.chars()
                    .all(|c| one_token(c) && vocab.contains(c.to_string().as_str()))
        })
        .take(n)
        .collect();
    assert_eq!(found.len(), n, "the sample has {n} such sentences");
    found
}

#[test]
fn predict_decodes_what_bert_model_linear_and_pytorch_crf_decode_on_200_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    random_bert_model(&model);
    let texts = sentences(200);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, texts.join("\n") + "\n").unwrap();

    let ours = Command::new(env!("CARGO_BIN_EXE_predict"))
        .args(["--model-dir", model.to_str().unwrap(), "--format", "bio"])
        // fp32: the reference computes in fp32 (`auto` would quantize on a CPU).
        .args(["--precision", "fp32"])
        .args([
            "--bio-constraints",
            "false",
            "--input",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    check(&ours, ours.status.success(), "predict");
    let ours: Vec<String> = String::from_utf8(ours.stdout)
        .unwrap()
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .map(|l| l.rsplit(' ').next().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();

    let python = Command::new(common::venv_python())
        .args(["-c", DECODE])
        .arg(&model)
        .arg(&input)
        .output()
        .unwrap();
    check(&python, python.status.success(), "the Python decoder");
    let theirs: Vec<String> = String::from_utf8(python.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    assert_eq!(ours.len(), 200);
    assert_eq!(theirs.len(), 200);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "sentence {i}: {}", texts[i]);
    }
    let used: HashSet<&str> = ours.iter().flat_map(|s| s.split(' ')).collect();
    assert!(
        used.len() >= 4,
        "the paths are varied, not one tag: {used:?}"
    );
}
