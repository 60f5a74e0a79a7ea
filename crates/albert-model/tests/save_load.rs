//! `save_model` → `load_model` round trip, and the saved directory decoded by HF + pytorch-crf in
//! Python (tests/py/decode_saved.py) giving the same states and tags as our Rust code.

mod common;

use albert_model::{load_model, save_model, Activation, AlbertConfig, Head, NerTagger, TaggerSpec};
use common::*;
use tch::{nn, Kind, Tensor};

fn small_config() -> AlbertConfig {
    AlbertConfig {
        vocab_size: 120,
        embedding_size: 16,
        hidden_size: 32,
        num_hidden_layers: 3,
        num_hidden_groups: 2,
        inner_group_num: 2,
        num_attention_heads: 4,
        intermediate_size: 37,
        hidden_act: Activation::Gelu,
        max_position_embeddings: 32,
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        ..Default::default()
    }
}

/// A tagger whose every variable is random and O(1), so states and paths are far from ties.
fn random_tagger(spec: &TaggerSpec) -> (nn::VarStore, NerTagger) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let t = NerTagger::new(&vs.root(), spec);
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let noise = Tensor::randn(v.size(), (Kind::Float, tch::Device::Cpu)) * 0.3;
            v.copy_(&(&v + noise));
        }
    });
    (vs, t)
}

#[test]
fn round_trip_preserves_everything() {
    let refs = reference();
    let b = batch(&refs);
    for head in [Head::Crf, Head::Softmax] {
        let spec = spec(small_config(), head);
        let (vs, tagger) = random_tagger(&spec);
        let dir = tempfile::tempdir().unwrap();
        save_model(
            dir.path(),
            &vs,
            &spec,
            fixtures().join("hf_a_safetensors/vocab.txt"),
        )
        .unwrap();
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["config.json", "model.safetensors", "vocab.txt"]);

        let (vs2, tagger2, spec2, vocab) = load_model(dir.path(), tch::Device::Cpu).unwrap();
        assert_eq!(spec2, spec);
        assert_eq!(vocab, dir.path().join("vocab.txt"));
        assert_eq!(vs2.variables().len(), vs.variables().len());
        let em = tagger.emissions(&b.input_ids, &b.attention_mask, &b.tag_positions, false);
        let em2 = tagger2.emissions(&b.input_ids, &b.attention_mask, &b.tag_positions, false);
        assert_eq!(max_diff(&em, &em2), 0.0);
        assert_eq!(
            tagger.decode(&em, &b.tag_mask, true),
            tagger2.decode(&em2, &b.tag_mask, true)
        );
    }
}

#[test]
fn hf_and_torchcrf_decode_our_saved_model_identically() {
    let refs = reference();
    let b = batch(&refs);
    let spec = spec(small_config(), Head::Crf);
    let (vs, tagger) = random_tagger(&spec);
    let dir = tempfile::tempdir().unwrap();
    save_model(
        dir.path(),
        &vs,
        &spec,
        fixtures().join("hf_a_safetensors/vocab.txt"),
    )
    .unwrap();

    let inputs = dir.path().join("inputs.safetensors");
    let named = [
        ("input_ids", b.input_ids.shallow_clone()),
        ("attention_mask", b.attention_mask.shallow_clone()),
        ("tag_positions", b.tag_positions.shallow_clone()),
        ("tag_mask", b.tag_mask.to_kind(Kind::Uint8)),
    ];
    Tensor::write_safetensors(&named, &inputs).unwrap();
    let out = dir.path().join("out.safetensors");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/decode_saved.py");
    let status = std::process::Command::new(python())
        .arg(&script)
        .arg(dir.path())
        .arg(&inputs)
        .arg(&out)
        .status()
        .expect("running the Python decoder");
    assert!(status.success(), "decode_saved.py failed: {status}");
    let py: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .collect();

    tch::no_grad(|| {
        let hidden = tagger.hidden_states(&b.input_ids, &b.attention_mask, false);
        let d = max_diff_masked(&hidden, &py["hidden"], &b.attention_mask);
        assert!(d < 1e-4, "hidden states differ from HF by {d}");
        let em = tagger.emissions(&b.input_ids, &b.attention_mask, &b.tag_positions, false);
        let d = max_diff(&em, &py["emissions"]);
        assert!(d < 1e-4, "emissions differ from HF by {d}");
        assert_eq!(
            tagger.decode(&em, &b.tag_mask, false),
            paths_from_padded(&py["paths"])
        );
    });
}

#[test]
fn load_model_refuses_mismatched_weights() {
    let spec = spec(small_config(), Head::Crf);
    let (vs, _t) = random_tagger(&spec);
    let dir = tempfile::tempdir().unwrap();
    save_model(
        dir.path(),
        &vs,
        &spec,
        fixtures().join("hf_a_safetensors/vocab.txt"),
    )
    .unwrap();
    // Claim one more label than the weights have.
    let cfg = dir.path().join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["id2label"]["5"] = "B-ORG".into();
    std::fs::write(&cfg, v.to_string()).unwrap();
    let err = load_model(dir.path(), tch::Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`classifier.bias`") && err.contains("[5]") && err.contains("[6]"),
        "{err}"
    );
}
