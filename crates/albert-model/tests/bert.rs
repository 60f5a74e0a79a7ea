//! The BERT encoder against transformers' `BertModel` on the same weights: our tagger saved (HF layout,
//! `config.json` with `model_type: bert`) loads in Python as `BertModel`, and both compute the same last
//! hidden states.

mod common;

use albert_model::{
    load_model, save_model, Activation, BertConfig, EncoderSpec, Head, NerTagger, TaggerSpec,
};
use std::path::{Path, PathBuf};

use tch::{nn, Device, Kind, Tensor};

fn config() -> BertConfig {
    BertConfig {
        vocab_size: 60,
        hidden_size: 16,
        num_hidden_layers: 3,
        num_attention_heads: 4,
        intermediate_size: 24,
        hidden_act: Activation::Gelu,
        max_position_embeddings: 20,
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        ..BertConfig::default()
    }
}

/// Every variable moved off its initial value (LayerNorm weights away from 1, biases away from 0), so
/// a variable read under the wrong name or left out cannot go unnoticed; the feed-forward input
/// weights scaled up so the activation works where its exact (erf) and tanh forms differ: at ×20 the
/// tanh form ends 2.3e-4 from transformers' states, above the bound (near zero it would hide under
/// it; far larger scales saturate both forms alike).
fn perturb(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            let noise = Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.1;
            let _ = v.g_add_(&noise);
            if name.ends_with("intermediate.dense.weight") {
                let _ = v.g_mul_scalar_(20.0);
            }
        }
    });
}

/// `dir/batch.safetensors` holding `input_ids` and `attention_mask`, for the Python side.
fn write_batch(dir: &Path, ids: &Tensor, mask: &Tensor) -> PathBuf {
    let file = dir.join("batch.safetensors");
    let named = [
        ("input_ids", ids.shallow_clone()),
        ("attention_mask", mask.shallow_clone()),
    ];
    Tensor::write_safetensors(&named, &file).unwrap();
    file
}

/// Runs `tests/py/SCRIPT ARGS...` with the venv's interpreter; its failure fails the test.
fn run_script(script: &str, args: &[&Path]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let status = std::process::Command::new(common::python())
        .arg(&path)
        .args(args)
        .status()
        .expect("running the Python side");
    assert!(status.success(), "{script} failed: {status}");
}

/// A BERT tagger built from `weights`' own config with the weights loaded: the config, the variables,
/// the tagger and the load's report, after checking that the weights are read as BERT and write all
/// of its 5 embedding and 2 × 16 layer tensors.
fn bert_tagger_from(
    weights: &albert_model::PretrainedWeights,
) -> (
    BertConfig,
    nn::VarStore,
    NerTagger,
    albert_model::LoadReport,
) {
    let albert_model::TransformerConfig::Bert(config) = weights.config().clone() else {
        panic!("not read as BERT: {weights:?}");
    };
    let spec = TaggerSpec {
        encoder: EncoderSpec::Bert(config.clone()),
        labels: common::labels(),
        head: Head::Crf,
    };
    let mut vs = nn::VarStore::new(Device::Cpu);
    let tagger = NerTagger::new(&vs.root(), &spec);
    let report = weights.load_into(&mut vs).unwrap();
    assert_eq!(report.loaded.len(), 5 + 2 * 16, "{report}");
    (config, vs, tagger, report)
}

#[test]
fn hidden_states_equal_transformers_bert_model_on_the_same_weights() {
    tch::manual_seed(11);
    let spec = TaggerSpec {
        encoder: EncoderSpec::Bert(config()),
        labels: common::labels(),
        head: Head::Crf,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let tagger = NerTagger::new(&vs.root(), &spec);
    perturb(&vs);
    let names: Vec<String> = vs.variables().into_keys().collect();
    for expected in [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.LayerNorm.bias",
        "bert.encoder.layer.2.attention.self.query.weight",
        "bert.encoder.layer.0.attention.output.LayerNorm.weight",
        "bert.encoder.layer.1.intermediate.dense.bias",
        "bert.encoder.layer.1.output.dense.weight",
        "bert.encoder.layer.2.output.LayerNorm.bias",
        "classifier.weight",
        "crf.transitions",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
    // 5 embedding tensors, 16 per layer, classifier 2, CRF 3.
    assert_eq!(names.len(), 5 + 3 * 16 + 2 + 3);

    let dir = tempfile::tempdir().unwrap();
    let vocab = dir.path().join("vocab-src.txt");
    std::fs::write(&vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n").unwrap();
    save_model(dir.path(), &vs, &spec, &vocab).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "bert");
    assert_eq!(config["ner_encoder"], "bert");
    assert_eq!(config["architectures"][0], "BertForTokenClassification");

    let ids = Tensor::from_slice2(&[[2i64, 17, 45, 9, 33, 3, 0, 0], [2, 5, 58, 3, 0, 0, 0, 0]]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    let ours = tch::no_grad(|| tagger.hidden_states(&ids, &mask, false));
    let inp = write_batch(dir.path(), &ids, &mask);
    let out = dir.path().join("reference.safetensors");
    run_script("bert_reference.py", &[dir.path(), &inp, &out]);
    let reference = Tensor::read_safetensors(&out).unwrap().remove(0).1;
    let diff = common::max_diff_masked(&ours, &reference, &mask);
    assert!(diff < 1e-4, "BertModel vs ours: max |diff| {diff}");
    assert!(
        f64::try_from(reference.abs().max()).unwrap() > 0.1,
        "the reference is not trivially zero"
    );

    // And our own reader gives back the same model.
    let (_vs2, loaded, loaded_spec, _) = load_model(dir.path(), Device::Cpu).unwrap();
    assert_eq!(loaded_spec, spec);
    let again = tch::no_grad(|| loaded.hidden_states(&ids, &mask, false));
    assert_eq!(common::max_diff(&ours, &again), 0.0);
}

/// HF BERT directories in every form users download (`BertModel` with its pooler,
/// `BertForMaskedLM`, `BertForPreTraining` as `pytorch_model.bin`, `BertForTokenClassification`) load
/// into a BERT tagger through the same `PretrainedWeights` as ALBERT's, skipping (and listing) the heads
/// and pooler, and the tagger's hidden states equal transformers' on the same weights.
#[test]
fn hf_bert_directories_of_every_form_load_with_transformers_hidden_states() {
    let dir = tempfile::tempdir().unwrap();
    let ids = Tensor::from_slice2(&[[2i64, 17, 45, 9, 33, 3, 0], [2, 5, 58, 3, 0, 0, 0]]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    let inp = write_batch(dir.path(), &ids, &mask);
    run_script("bert_hf_dirs.py", &[dir.path(), &inp]);
    let hidden: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("hidden.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    for (name, skipped_example) in [
        ("bert_model", "pooler.dense.weight"),
        ("masked_lm", "cls.predictions.transform.dense.weight"),
        ("pretraining", "cls.seq_relationship.weight"),
        ("token_cls", "classifier.weight"),
    ] {
        let weights = albert_model::PretrainedWeights::open(dir.path().join(name)).unwrap();
        let (config, _vs, tagger, report) = bert_tagger_from(&weights);
        assert_eq!(config.hidden_size, 16, "{name}");
        assert!(
            report.skipped.iter().any(|s| s.ends_with(skipped_example)),
            "{name}: {skipped_example} not listed as skipped: {report}"
        );
        let ours = tch::no_grad(|| tagger.hidden_states(&ids, &mask, false));
        let diff = common::max_diff_masked(&ours, &hidden[name], &mask);
        assert!(diff < 1e-4, "{name}: BertModel vs ours: max |diff| {diff}");
    }
}

/// A TensorFlow BERT release (a real index: Google's names and the MLM head) opens as BERT in
/// Google's layout with its own `bert_config.json`, planned completely before any data is read; an
/// ALBERT config given for it is refused naming the encoder to use.
#[test]
fn a_tf_bert_release_opens_as_bert_and_an_albert_config_for_it_is_refused() {
    let index = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/real-index/chinese_bert_vocab5981");
    // The release's shard is not here: a sparse stand-in lets the index open (nothing is read).
    let release = tempfile::tempdir().unwrap();
    for f in ["bert_model.ckpt.index", "bert_config.json"] {
        std::fs::copy(index.join(f), release.path().join(f)).unwrap();
    }
    std::fs::File::create(release.path().join("bert_model.ckpt.data-00000-of-00001"))
        .unwrap()
        .set_len(1 << 31)
        .unwrap();
    let weights = albert_model::PretrainedWeights::open(release.path()).unwrap();
    assert_eq!(
        weights.format(),
        albert_model::WeightsFormat::Tf(albert_model::TfLayout::GoogleBert)
    );
    let albert_model::TransformerConfig::Bert(config) = weights.config() else {
        panic!("not read as BERT: {:?}", weights.config());
    };
    assert_eq!((config.vocab_size, config.num_hidden_layers), (5981, 12));

    let albert = albert_model::TransformerConfig::Albert(albert_model::AlbertConfig::default());
    let err = albert_model::PretrainedWeights::open_with_config(release.path(), Some(albert))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BERT checkpoint") && err.contains("use encoder=bert"),
        "{err}"
    );
}

/// A TensorFlow BERT checkpoint written by TensorFlow in Google's layout
/// (fixtures/make_bert_tf_fixture.py: pooler, MLM head, an Adam slot, `global_step` and a task head
/// beside the encoder) loads with its own `bert_config.json` into a BERT tagger that computes what
/// transformers' BertModel computes on the same weights; everything else is skipped and listed.
#[test]
fn a_tf_bert_checkpoint_loads_with_transformers_hidden_states() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bert_tf");
    let weights = albert_model::PretrainedWeights::open(&dir).unwrap();
    assert_eq!(
        weights.format(),
        albert_model::WeightsFormat::Tf(albert_model::TfLayout::GoogleBert)
    );
    let (config, _vs, tagger, report) = bert_tagger_from(&weights);
    assert_eq!(
        config.hidden_act,
        Activation::Gelu,
        "TF's `gelu` read as HF reads it"
    );
    for skipped in [
        "bert/pooler/dense/kernel",
        "cls/predictions/output_bias",
        "bert/embeddings/word_embeddings/adam_m",
        "global_step",
        "output_weights",
    ] {
        assert!(
            report.skipped.iter().any(|s| s == skipped),
            "{skipped}: {report}"
        );
    }
    let reference: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.join("reference.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let mask = &reference["attention_mask"];
    let ours = tch::no_grad(|| tagger.hidden_states(&reference["input_ids"], mask, false));
    let diff = common::max_diff_masked(&ours, &reference["hidden"], mask);
    assert!(diff < 1e-4, "BertModel vs ours from TF: max |diff| {diff}");
}
