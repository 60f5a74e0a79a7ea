//! Every pretrained format loads into our model and reproduces HF's own encoder + torchcrf on the
//! fixture batch (see fixtures/make_fixtures.py): hidden states, emissions and CRF log-likelihoods
//! within 1e-4, Viterbi paths exactly.

mod common;

use albert_model::{Activation, Head, ModelError, PretrainedWeights, TfLayout, WeightsFormat};
use common::*;
use tch::nn;

const TOL: f64 = 1e-4;

/// Loads `path`, puts the `heads` fixture on top and checks everything against reference `prefix`.
fn check(
    path: std::path::PathBuf,
    prefix: &str,
    heads: &str,
    format: WeightsFormat,
) -> albert_model::LoadReport {
    let refs = reference();
    let b = batch(&refs);
    let weights =
        PretrainedWeights::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(weights.format(), format);
    let spec = spec(weights.config().albert().unwrap().clone(), Head::Crf);
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let tagger = tagger(&vs, &spec);
    let report = weights.load_into(&mut vs).unwrap();
    assert!(
        report.loaded.iter().all(|n| n.starts_with("albert.")),
        "{report}"
    );
    copy_from_file(&vs, &fixtures().join(heads));

    tch::no_grad(|| {
        let hidden = tagger.hidden_states(&b.input_ids, &b.attention_mask, false);
        let d = max_diff_masked(
            &hidden,
            &refs[&format!("{prefix}.hidden")],
            &b.attention_mask,
        );
        assert!(d < TOL, "{}: hidden states differ by {d}", path.display());

        let em = tagger.emissions(&b.input_ids, &b.attention_mask, &b.tag_positions, false);
        let d = max_diff(&em, &refs[&format!("{prefix}.emissions")]);
        assert!(d < TOL, "{}: emissions differ by {d}", path.display());

        let llh = tagger
            .crf()
            .unwrap()
            .log_likelihood(&em, &b.tags, &b.tag_mask);
        let d = max_diff(&llh, &refs[&format!("{prefix}.llh")]);
        assert!(d < TOL, "{}: log-likelihood differs by {d}", path.display());

        let paths = tagger.decode(&em, &b.tag_mask, false);
        assert_eq!(
            paths,
            paths_from_padded(&refs[&format!("{prefix}.paths")]),
            "{}",
            path.display()
        );
    });
    report
}

#[test]
fn hf_safetensors_without_prefix_skips_pooler() {
    let report = check(
        fixtures().join("hf_a_safetensors"),
        "a",
        "heads_a.safetensors",
        WeightsFormat::HfSafetensors,
    );
    assert_eq!(
        report.skipped,
        vec!["pooler.bias".to_string(), "pooler.weight".to_string()]
    );
    assert_eq!(report.loaded.len(), 23);
}

#[test]
fn hf_pytorch_bin_token_classification_skips_old_classifier() {
    let report = check(
        fixtures().join("hf_a_bin"),
        "a",
        "heads_a.safetensors",
        WeightsFormat::HfPytorchBin,
    );
    assert_eq!(
        report.skipped,
        vec![
            "classifier.bias".to_string(),
            "classifier.weight".to_string()
        ]
    );
}

#[test]
fn hf_grouped_layers_match_hf_schedule() {
    // num_hidden_groups=2, inner_group_num=2 over 3 layers, erf gelu.
    let w = PretrainedWeights::open(fixtures().join("hf_b_safetensors")).unwrap();
    assert_eq!(
        (
            w.config().albert().unwrap().num_hidden_groups,
            w.config().albert().unwrap().inner_group_num
        ),
        (2, 2)
    );
    assert_eq!(w.config().albert().unwrap().hidden_act, Activation::Gelu);
    check(
        fixtures().join("hf_b_safetensors/model.safetensors"),
        "b",
        "heads_b.safetensors",
        WeightsFormat::HfSafetensors,
    );
}

#[test]
fn albert_zh_directory_folds_into_hf_layout() {
    let dir = fixtures().join("albert_zh");
    let w = PretrainedWeights::open(&dir).unwrap();
    assert_eq!(
        w.config().albert().unwrap().embedding_size,
        w.config().albert().unwrap().hidden_size,
        "folded: E := H"
    );
    assert_eq!(
        w.config().albert().unwrap().hidden_act,
        Activation::GeluNew,
        "albert_zh gelu is the tanh form"
    );
    assert_eq!(w.vocab_path(), Some(dir.join("vocab.txt").as_path()));
    let report = check(
        dir,
        "zh",
        "heads_zh.safetensors",
        WeightsFormat::Tf(TfLayout::Brightmart),
    );
    for s in [
        "global_step",
        "bert/pooler/dense/kernel",
        "cls/predictions/output_bias",
        "bert/embeddings/word_embeddings/adam_m",
    ] {
        assert!(
            report.skipped.iter().any(|n| n == s),
            "{s} not reported as skipped: {report}"
        );
    }
    assert_eq!(report.skipped.len(), 4 + 1 + 2 * 22);
}

#[test]
fn albert_zh_zip_index_and_prefix() {
    let zip = fixtures().join("albert_zh_tiny.zip");
    check(
        zip.clone(),
        "zh",
        "heads_zh.safetensors",
        WeightsFormat::Tf(TfLayout::Brightmart),
    );
    let w = PretrainedWeights::open(&zip).unwrap();
    assert_eq!(w.vocab_path(), None);
    let tmp = tempfile::tempdir().unwrap();
    let vocab = w.extract_vocab(tmp.path()).unwrap().unwrap();
    assert_eq!(
        std::fs::read(vocab).unwrap(),
        std::fs::read(fixtures().join("albert_zh/vocab.txt")).unwrap()
    );

    check(
        fixtures().join("albert_zh/albert_model.ckpt.index"),
        "zh",
        "heads_zh.safetensors",
        WeightsFormat::Tf(TfLayout::Brightmart),
    );
    check(
        fixtures().join("albert_zh/albert_model.ckpt"),
        "zh",
        "heads_zh.safetensors",
        WeightsFormat::Tf(TfLayout::Brightmart),
    );
}

#[test]
fn softmax_head_loss_and_argmax() {
    let refs = reference();
    let b = batch(&refs);
    let w = PretrainedWeights::open(fixtures().join("hf_a_safetensors")).unwrap();
    let spec = spec(w.config().albert().unwrap().clone(), Head::Softmax);
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let tagger = tagger(&vs, &spec);
    w.load_into(&mut vs).unwrap();
    let heads = tempfile::tempdir().unwrap();
    // Only the classifier: a softmax tagger has no crf.* variables.
    let only_classifier: Vec<(String, tch::Tensor)> =
        tch::Tensor::read_safetensors(fixtures().join("heads_a.safetensors"))
            .unwrap()
            .into_iter()
            .filter(|(n, _)| n.starts_with("classifier."))
            .collect();
    let f = heads.path().join("c.safetensors");
    tch::Tensor::write_safetensors(&only_classifier, &f).unwrap();
    copy_from_file(&vs, &f);
    let em = tagger.emissions(&b.input_ids, &b.attention_mask, &b.tag_positions, false);
    let loss = tagger.loss(&em, &b.tags, &b.tag_mask);
    assert_eq!(loss.size(), Vec::<i64>::new());
    let d = max_diff(&loss, &refs["a.softmax_loss"].squeeze());
    assert!(d < TOL, "softmax loss differs by {d}");
    let paths = tagger.decode(&em, &b.tag_mask, false);
    let argmax = refs["a.emissions"].argmax(-1, false);
    for (r, p) in paths.iter().enumerate() {
        let n = i64::try_from(b.tag_mask.get(r as i64).sum(tch::Kind::Int64)).unwrap();
        assert_eq!(p.len() as i64, n);
        assert_eq!(
            *p,
            Vec::<i64>::try_from(argmax.get(r as i64).narrow(0, 0, n)).unwrap()
        );
    }
    // BIO-constrained softmax decoding: valid sequences, equal to the argmax where that is valid.
    let constrained = tagger.decode(&em, &b.tag_mask, true);
    for (p, c) in paths.iter().zip(&constrained) {
        assert_eq!(p.len(), c.len());
        let valid = |s: &[i64]| {
            s.iter()
                .enumerate()
                .all(|(i, &t)| match LABELS[t as usize].strip_prefix("I-") {
                    None => true,
                    Some(x) => {
                        i > 0
                            && [format!("B-{x}"), format!("I-{x}")]
                                .contains(&LABELS[s[i - 1] as usize].to_string())
                    }
                })
        };
        assert!(valid(c), "{c:?}");
        if valid(p) {
            assert_eq!(p, c);
        }
    }
    // Masked positions are ignored whatever they hold.
    let garbage = b.tags.masked_fill(&b.tag_mask.logical_not(), -100);
    assert!(max_diff(&tagger.loss(&em, &garbage, &b.tag_mask), &loss) < 1e-7);
}

#[test]
fn wrong_config_is_a_shape_error_naming_both_shapes() {
    let w = PretrainedWeights::open(fixtures().join("hf_a_safetensors")).unwrap();
    let mut cfg = w.config().albert().unwrap().clone();
    cfg.intermediate_size = 40;
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let _t = tagger(&vs, &spec(cfg, Head::Crf));
    let err = w.load_into(&mut vs).unwrap_err();
    match &err {
        ModelError::ShapeMismatch {
            tensor,
            found,
            expected,
            ..
        } => {
            assert!(tensor.contains("ffn"), "{err}");
            assert!(found.contains(&37) && expected.contains(&40), "{err}");
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let src = fixtures().join("hf_a_safetensors");
    let tensors = tch::Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
    let write = |tensors: &[(String, tch::Tensor)]| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
        tch::Tensor::write_safetensors(tensors, dir.path().join("model.safetensors")).unwrap();
        dir
    };
    let load = |dir: &tempfile::TempDir| {
        let w = PretrainedWeights::open(dir.path()).unwrap();
        let mut vs = nn::VarStore::new(tch::Device::Cpu);
        let _t = tagger(&vs, &spec(w.config().albert().unwrap().clone(), Head::Crf));
        w.load_into(&mut vs).unwrap_err()
    };

    let missing: Vec<_> = tensors
        .iter()
        .filter(|(n, _)| !n.ends_with("ffn.bias"))
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    let dir = write(&missing);
    let err = load(&dir);
    assert!(
        matches!(&err, ModelError::MissingTensor { tensor, expected, .. }
        if tensor == "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.bias" && expected == &vec![37]),
        "{err}"
    );

    let mut extra: Vec<_> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    extra.push((
        "encoder.mystery.weight".to_string(),
        tch::Tensor::zeros([2, 3], tch::kind::FLOAT_CPU),
    ));
    let dir = write(&extra);
    let err = load(&dir);
    assert!(
        matches!(&err, ModelError::UnexpectedTensor { tensor, shape, .. }
        if tensor == "albert.encoder.mystery.weight" && shape == &vec![2, 3]),
        "{err}"
    );
}

#[test]
fn albert_zh_preln_and_missing_config_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "albert_model.ckpt.index",
        "albert_model.ckpt.data-00000-of-00001",
        "vocab.txt",
    ] {
        std::fs::copy(fixtures().join("albert_zh").join(f), tmp.path().join(f)).unwrap();
    }
    let err = PretrainedWeights::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("albert_config"), "{err}");

    let cfg =
        std::fs::read_to_string(fixtures().join("albert_zh/albert_config_tiny.json")).unwrap();
    std::fs::write(
        tmp.path().join("albert_config_tiny.json"),
        cfg.replace("postln", "preln"),
    )
    .unwrap();
    let err = PretrainedWeights::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("preln"), "{err}");
}

#[test]
fn albert_zh_mis_shaped_tensors_are_all_named_before_any_data_is_read() {
    // A config claiming a larger intermediate size than the checkpoint holds.
    let mut raw = albert_model::AlbertConfig::from_json_file(
        fixtures().join("albert_zh/albert_config_tiny.json"),
    )
    .unwrap();
    raw.intermediate_size = 38;
    let err = PretrainedWeights::open_with_config(
        fixtures().join("albert_zh"),
        Some(albert_model::TransformerConfig::Albert(raw)),
    )
    .unwrap_err();
    let ModelError::LoadPlan { problems, .. } = &err else {
        panic!("not a plan error: {err}");
    };
    let layer = "bert/encoder/layer_shared/";
    for expected in [
        format!(
            "`{layer}intermediate/dense/kernel` has shape [32, 37] in the file, [32, 38] expected"
        ),
        format!("`{layer}intermediate/dense/bias` has shape [37] in the file, [38] expected"),
        format!("`{layer}output/dense/kernel` has shape [37, 32] in the file, [38, 32] expected"),
    ] {
        assert!(
            problems.contains(&expected),
            "{expected} not in {problems:?}"
        );
    }
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        err.to_string().contains("brightmart"),
        "the layout is named: {err}"
    );
}

#[test]
fn legacy_pickle_bin_is_refused_with_advice() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("hf_a_bin/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    // Legacy torch.save files start with a pickle protocol header, not a zip signature.
    std::fs::write(
        tmp.path().join("pytorch_model.bin"),
        b"\x80\x02\x8a\x0alegacy",
    )
    .unwrap();
    let err = PretrainedWeights::open(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("legacy") && err.contains("safetensors"),
        "{err}"
    );
}
