//! Shared helpers for the integration tests: fixture paths, reference tensors, comparisons.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use albert_model::{Head, NerTagger, TaggerSpec};
use tch::{nn, Kind, Tensor};

pub const LABELS: [&str; 5] = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn labels() -> Vec<String> {
    LABELS.iter().map(|s| s.to_string()).collect()
}

/// The venv interpreter the Python cross-checks need; a missing one fails the test.
pub fn python() -> PathBuf {
    let p = std::env::var_os("ALBERT_NER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    assert!(
        p.exists(),
        "Python interpreter {} not found (set ALBERT_NER_PYTHON)",
        p.display()
    );
    p
}

pub struct Batch {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
    pub tag_positions: Tensor,
    pub tag_mask: Tensor,
    pub tags: Tensor,
}

pub fn reference() -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixtures().join("reference.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

pub fn batch(refs: &HashMap<String, Tensor>) -> Batch {
    Batch {
        input_ids: refs["input_ids"].shallow_clone(),
        attention_mask: refs["attention_mask"].shallow_clone(),
        tag_positions: refs["tag_positions"].shallow_clone(),
        tag_mask: refs["tag_mask"].to_kind(Kind::Bool),
        tags: refs["tags"].shallow_clone(),
    }
}

pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from(
        (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max(),
    )
    .unwrap()
}

/// Max |a-b| over real tokens only ([B,T,H] states, [B,T] 0/1 mask).
pub fn max_diff_masked(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    let m = mask.ne(0).unsqueeze(-1).to_kind(Kind::Double);
    max_diff(
        &(a.to_kind(Kind::Double) * &m),
        &(b.to_kind(Kind::Double) * &m),
    )
}

/// Reference paths are stored padded with -1.
pub fn paths_from_padded(t: &Tensor) -> Vec<Vec<i64>> {
    let (b, _) = t.size2().unwrap();
    (0..b)
        .map(|r| {
            Vec::<i64>::try_from(t.get(r))
                .unwrap()
                .into_iter()
                .filter(|&x| x >= 0)
                .collect()
        })
        .collect()
}

/// Copies every tensor of a safetensors file into the variable of the same name.
pub fn copy_from_file(vs: &nn::VarStore, file: &std::path::Path) {
    let vars = vs.variables();
    for (name, t) in Tensor::read_safetensors(file).unwrap() {
        let mut v = vars
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not in VarStore"))
            .shallow_clone();
        tch::no_grad(|| v.copy_(&t));
    }
}

pub fn spec(albert: albert_model::AlbertConfig, head: Head) -> TaggerSpec {
    TaggerSpec {
        encoder: albert_model::EncoderSpec::Albert(albert),
        labels: labels(),
        head,
    }
}

pub fn tagger(vs: &nn::VarStore, spec: &TaggerSpec) -> NerTagger {
    NerTagger::new(&vs.root(), spec)
}
