//! TF checkpoints in Google's ALBERT layout (fixtures/make_google_fixtures.py): our loader reproduces
//! the hidden states of HF's own TF-ALBERT conversion (transformers 4.x `load_tf_weights_in_albert`,
//! checked by the generator) on the fixture batch, within 1e-4.

mod common;

use std::collections::HashMap;

use albert_model::{Head, PretrainedWeights, TfLayout, WeightsFormat};
use common::*;
use tch::{nn, Tensor};

const TOL: f64 = 1e-4;

fn google_reference() -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixtures().join("google_reference.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

/// Loads the fixture checkpoint `dir` and returns (its load report, max |hidden - reference|).
fn load_and_compare(
    dir: &str,
    layout: TfLayout,
    expected: &str,
) -> (albert_model::LoadReport, PretrainedWeights, f64) {
    let b = batch(&reference());
    let weights = PretrainedWeights::open(fixtures().join(dir)).unwrap();
    assert_eq!(weights.format(), WeightsFormat::Tf(layout));
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let tagger = tagger(
        &vs,
        &spec(weights.config().albert().unwrap().clone(), Head::Crf),
    );
    let report = weights.load_into(&mut vs).unwrap();
    let hidden = tch::no_grad(|| tagger.hidden_states(&b.input_ids, &b.attention_mask, false));
    let d = max_diff_masked(&hidden, &google_reference()[expected], &b.attention_mask);
    (report, weights, d)
}

#[test]
fn google_layout_matches_hfs_conversion() {
    let (report, weights, d) = load_and_compare("google_tiny", TfLayout::Google, "google.hidden");
    assert!(d < TOL, "hidden states differ by {d}");
    let c = weights.config().albert().unwrap();
    assert_eq!((c.num_hidden_groups, c.inner_group_num), (2, 2));
    assert!(
        c.embedding_size < c.hidden_size,
        "factorised embeddings kept"
    );
    for s in [
        "global_step",
        "bert/pooler/dense/kernel",
        "cls/predictions/output_bias",
        "bert/encoder/transformer/group_1/inner_group_1/LayerNorm_1/gamma/adam_v",
    ] {
        assert!(
            report.skipped.iter().any(|n| n == s),
            "{s} not skipped: {report}"
        );
    }
    assert!(
        report.to_string().contains("Google ALBERT"),
        "the layout is named: {report}"
    );
}

#[test]
fn google_names_without_factorised_embeddings_compute_the_same_function() {
    let (report, weights, d) = load_and_compare(
        "google_tiny_no_projection",
        TfLayout::GoogleUnfactorised,
        "google_no_projection.hidden",
    );
    assert!(d < TOL, "hidden states differ by {d}");
    assert_eq!(
        weights.config().albert().unwrap().embedding_size,
        weights.config().albert().unwrap().hidden_size
    );
    assert!(report.to_string().contains("identity"), "{report}");
}
