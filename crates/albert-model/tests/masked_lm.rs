//! The masked LM (`task=pretrain`) against transformers' `AlbertForMaskedLM` and `BertForMaskedLM` on the
//! same weights and the same masked batch: the directory we save loads as that class with nothing
//! missing but the tied decoder, and the loss, the scores and the masked-token accuracy agree. Then
//! what continued pre-training loads: its own head from a pre-trained directory, a new one from a
//! tagger's, and a tagger the encoder alone from a pre-trained directory.

mod common;

use std::path::Path;

use albert_model::{
    save_masked_lm, save_model, Activation, AlbertConfig, BertConfig, EncoderSpec, Head, MaskedLm,
    MlmBatch, NerTagger, PretrainedWeights, TaggerSpec, TransformerConfig, IGNORED_LABEL,
};
use tch::{nn, Device, Kind, Tensor};

const VOCAB: i64 = 60;

fn albert() -> TransformerConfig {
    TransformerConfig::Albert(AlbertConfig {
        vocab_size: VOCAB,
        embedding_size: 8,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 24,
        hidden_act: Activation::GeluNew,
        max_position_embeddings: 20,
        ..AlbertConfig::default()
    })
}

fn bert() -> TransformerConfig {
    TransformerConfig::Bert(BertConfig {
        vocab_size: VOCAB,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 24,
        hidden_act: Activation::Gelu,
        max_position_embeddings: 20,
        ..BertConfig::default()
    })
}

/// Every variable moved off its initial value (the head's bias and LayerNorm included), so one read
/// under the wrong name, or left out, changes the scores.
fn perturb(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let _ = v.g_add_(&(Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.3));
        }
    });
}

/// Three rows of 10, 7 and 4 real tokens ([CLS] … [SEP], padding 0), about a third of the inner
/// tokens predicted: `labels` holds their original ids, -100 elsewhere, and the input shows [MASK] (4)
/// at most of them, a random token or the original at the rest.
fn masked_batch() -> (Tensor, Tensor, Tensor) {
    let lengths = [10i64, 7, 4];
    let (b, t) = (lengths.len() as i64, 10);
    let ids = Tensor::randint_low(5, VOCAB, [b, t], (Kind::Int64, Device::Cpu));
    let mask = Tensor::arange(t, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .lt_tensor(&Tensor::from_slice(&lengths).unsqueeze(1))
        .to_kind(Kind::Int64);
    let ids = ids * &mask;
    let labels = Tensor::full([b, t], IGNORED_LABEL, (Kind::Int64, Device::Cpu));
    for (row, &len) in lengths.iter().enumerate() {
        let row = row as i64;
        let _ = ids.get(row).get(0).fill_(2);
        let _ = ids.get(row).get(len - 1).fill_(3);
        for (k, pos) in (1..len - 1).step_by(3).enumerate() {
            let original = ids.int64_value(&[row, pos]);
            let _ = labels.get(row).get(pos).fill_(original);
            let shown = match k % 3 {
                0 | 1 => 4,
                _ => (original + 7) % VOCAB,
            };
            let _ = ids.get(row).get(pos).fill_(shown);
        }
    }
    (ids, mask, labels)
}

/// A masked batch without segments.
fn plain<'a>(ids: &'a Tensor, mask: &'a Tensor, labels: &'a Tensor) -> MlmBatch<'a> {
    MlmBatch {
        input_ids: ids,
        attention_mask: mask,
        labels,
        token_type_ids: None,
        sentence_order_labels: None,
    }
}

/// A copy of the saved directory `dir` (weights and config) without the tensors `drop` names.
fn copy_without(dir: &Path, drop: impl Fn(&str) -> bool) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let kept: Vec<(String, Tensor)> = Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !drop(n))
        .collect();
    Tensor::write_safetensors(&kept, copy.path().join("model.safetensors")).unwrap();
    std::fs::copy(dir.join("config.json"), copy.path().join("config.json")).unwrap();
    copy
}

fn vocab_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("vocab-src.txt");
    let mut lines = vec!["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    lines.extend((5..VOCAB).map(|i| format!("t{i}")));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Runs `tests/py/mlm_reference.py` on `dir`: HF's loss and scores for the batch.
fn reference(dir: &Path, ids: &Tensor, mask: &Tensor, labels: &Tensor) -> (f64, Tensor) {
    let mut got = reference_outputs(dir, &plain(ids, mask, labels));
    let loss = got.remove("loss").unwrap().double_value(&[0]);
    (loss, got.remove("logits").unwrap())
}

/// What `tests/py/mlm_reference.py` writes for `batch` on the model in `dir`, by name.
fn reference_outputs(dir: &Path, batch: &MlmBatch) -> std::collections::HashMap<String, Tensor> {
    let input = dir.join("batch.safetensors");
    let mut named = vec![
        ("input_ids", batch.input_ids.shallow_clone()),
        ("attention_mask", batch.attention_mask.shallow_clone()),
        ("labels", batch.labels.shallow_clone()),
    ];
    if let Some(t) = batch.token_type_ids {
        named.push(("token_type_ids", t.shallow_clone()));
    }
    if let Some(t) = batch.sentence_order_labels {
        named.push(("sentence_order_label", t.shallow_clone()));
    }
    Tensor::write_safetensors(&named, &input).unwrap();
    let out = dir.join("reference.safetensors");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/mlm_reference.py");
    let status = std::process::Command::new(common::python())
        .arg(&script)
        .args([dir, &input, &out])
        .status()
        .expect("running the Python side");
    assert!(status.success(), "mlm_reference.py failed: {status}");
    Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .collect()
}

fn check_parity(config: TransformerConfig, class: &str) {
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let mlm = MaskedLm::new(&vs.root(), &config);
    perturb(&vs);
    let dir = tempfile::tempdir().unwrap();
    save_masked_lm(dir.path(), &vs, &mlm, vocab_file(dir.path())).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["architectures"][0], class);

    let (ids, mask, labels) = masked_batch();
    let ours_logits = tch::no_grad(|| mlm.logits(&ids, &mask, false));
    // Every other predicted position asks for the model's own top guess, so the accuracy below has
    // right and (almost surely) wrong predictions to count.
    let even = Tensor::arange(labels.size()[1], (Kind::Int64, Device::Cpu))
        .remainder(2)
        .eq(0)
        .unsqueeze(0);
    let guessed = labels.ne(IGNORED_LABEL).logical_and(&even);
    let labels = ours_logits.argmax(-1, false).where_self(&guessed, &labels);
    let ours = tch::no_grad(|| mlm.forward(&plain(&ids, &mask, &labels), false));
    let (hf_loss, hf_logits) = reference(dir.path(), &ids, &mask, &labels);

    let loss = ours.loss.double_value(&[]);
    assert!(
        (loss - hf_loss).abs() < 1e-4,
        "{class}: loss {loss} vs HF {hf_loss}"
    );
    assert!(
        hf_loss > 1.0,
        "a random model's loss is far from zero: {hf_loss}"
    );
    let diff = (&ours_logits - &hf_logits).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "{class}: scores differ by up to {diff}");

    let predicted = labels.ne(IGNORED_LABEL);
    let hf_correct = hf_logits
        .argmax(-1, false)
        .eq_tensor(&labels)
        .logical_and(&predicted)
        .sum(Kind::Int64)
        .int64_value(&[]);
    let predicted_count = predicted.sum(Kind::Int64).int64_value(&[]);
    assert_eq!(ours.predicted, predicted_count);
    assert!(
        0 < hf_correct && hf_correct < predicted_count,
        "{hf_correct} of {predicted_count}"
    );
    assert_eq!(ours.correct, hf_correct, "{class}: masked-token accuracy");
}

#[test]
fn albert_mlm_loss_and_scores_equal_transformers_albert_for_masked_lm() {
    check_parity(albert(), "AlbertForMaskedLM");
}

#[test]
fn bert_mlm_loss_and_scores_equal_transformers_bert_for_masked_lm() {
    check_parity(bert(), "BertForMaskedLM");
}

/// The head's variables: what a load either continues or starts new.
fn head_variables(config: &TransformerConfig) -> Vec<String> {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = MaskedLm::new(&vs.root(), config);
    let prefix = format!("{}.", config.view().prefix());
    let mut names: Vec<String> = vs
        .variables()
        .into_keys()
        .filter(|n| !n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn continued_pretraining_starts_from_a_saved_head_and_from_a_new_one_after_a_tagger() {
    for (config, head) in [
        (
            albert(),
            vec![
                "predictions.LayerNorm.bias",
                "predictions.LayerNorm.weight",
                "predictions.bias",
                "predictions.dense.bias",
                "predictions.dense.weight",
            ],
        ),
        (
            bert(),
            vec![
                "cls.predictions.bias",
                "cls.predictions.transform.LayerNorm.bias",
                "cls.predictions.transform.LayerNorm.weight",
                "cls.predictions.transform.dense.bias",
                "cls.predictions.transform.dense.weight",
            ],
        ),
    ] {
        assert_eq!(head_variables(&config), head);
        tch::manual_seed(9);
        let vs = nn::VarStore::new(Device::Cpu);
        let mlm = MaskedLm::new(&vs.root(), &config);
        perturb(&vs);
        let dir = tempfile::tempdir().unwrap();
        save_masked_lm(dir.path(), &vs, &mlm, vocab_file(dir.path())).unwrap();
        let (ids, mask, labels) = masked_batch();
        let before = tch::no_grad(|| mlm.forward(&plain(&ids, &mask, &labels), false))
            .loss
            .double_value(&[]);

        // A pre-trained directory: encoder and head, nothing new; the same loss.
        let weights = PretrainedWeights::open(dir.path()).unwrap();
        assert_eq!(weights.config(), &config);
        let mut again = nn::VarStore::new(Device::Cpu);
        let resumed = MaskedLm::new(&again.root(), weights.config());
        let report = weights.load_into(&mut again).unwrap();
        assert!(report.fresh.is_empty(), "{report}");
        assert!(
            head.iter().all(|h| report.loaded.iter().any(|l| l == h)),
            "{report}"
        );
        assert!(
            report.to_string().contains("MLM head continued"),
            "{report}"
        );
        let after = tch::no_grad(|| resumed.forward(&plain(&ids, &mask, &labels), false))
            .loss
            .double_value(&[]);
        assert_eq!(before, after);

        // The same directory as a tagger's pretrained weights: the encoder only, the head skipped.
        let spec = TaggerSpec {
            encoder: EncoderSpec::from(config.clone()),
            labels: common::labels(),
            head: Head::Crf,
        };
        let mut tagger_vs = nn::VarStore::new(Device::Cpu);
        let _ = NerTagger::new(&tagger_vs.root(), &spec);
        let report = weights.load_into(&mut tagger_vs).unwrap();
        assert!(
            head.iter().all(|h| report.skipped.iter().any(|s| s == h)),
            "{report}"
        );
        assert!(!report.to_string().contains("MLM head"), "{report}");

        // Part of a head is no head: all five start new.
        let partial_dir = copy_without(dir.path(), |n| n.ends_with("predictions.bias"));
        let partial = PretrainedWeights::open(partial_dir.path()).unwrap();
        let mut partial_vs = nn::VarStore::new(Device::Cpu);
        let _ = MaskedLm::new(&partial_vs.root(), partial.config());
        let report = partial.load_into(&mut partial_vs).unwrap();
        assert_eq!(report.fresh, head, "{report}");
        assert!(
            !report.to_string().contains("MLM head continued"),
            "{report}"
        );

        // A tagger's directory for pre-training: its encoder, and a new head (its own head skipped).
        let tagger_dir = tempfile::tempdir().unwrap();
        save_model(
            tagger_dir.path(),
            &tagger_vs,
            &spec,
            vocab_file(tagger_dir.path()),
        )
        .unwrap();
        let from_tagger = PretrainedWeights::open(tagger_dir.path()).unwrap();
        let mut fresh_vs = nn::VarStore::new(Device::Cpu);
        let _ = MaskedLm::new(&fresh_vs.root(), from_tagger.config());
        let report = from_tagger.load_into(&mut fresh_vs).unwrap();
        assert_eq!(report.fresh, head, "{report}");
        assert!(
            report.skipped.iter().any(|s| s == "crf.transitions"),
            "{report}"
        );
    }
}

/// The masked batch as segment pairs: each row's real tokens split in two halves (token types 0,
/// then 1), rows labelled in order, swapped, and no pair.
fn segment_batch() -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
    let (ids, mask, labels) = masked_batch();
    let lengths = mask.sum_dim_intlist(1, false, Kind::Int64);
    let positions = Tensor::arange(ids.size()[1], (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let types = positions
        .ge_tensor(&lengths.divide_scalar_mode(2, "floor").unsqueeze(1))
        .logical_and(&mask.to_kind(Kind::Bool))
        .to_kind(Kind::Int64);
    let order = Tensor::from_slice(&[0i64, 1, IGNORED_LABEL]);
    (ids, mask, labels, types, order)
}

#[test]
fn albert_sentence_order_and_mlm_losses_equal_transformers_albert_for_pre_training() {
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let mlm = MaskedLm::with_sentence_order(&vs.root(), &albert()).unwrap();
    perturb(&vs);
    let dir = tempfile::tempdir().unwrap();
    save_masked_lm(dir.path(), &vs, &mlm, vocab_file(dir.path())).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["architectures"][0], "AlbertForPreTraining");

    let (ids, mask, labels, types, order) = segment_batch();
    let batch = MlmBatch {
        input_ids: &ids,
        attention_mask: &mask,
        labels: &labels,
        token_type_ids: Some(&types),
        sentence_order_labels: Some(&order),
    };
    let ours = tch::no_grad(|| mlm.forward(&batch, false));
    let sop = ours.sentence_order.as_ref().expect("a sentence-order loss");
    let hf = reference_outputs(dir.path(), &batch);
    let hf_total = hf["loss"].double_value(&[0]);
    let hf_sop = hf["sop_loss"].double_value(&[0]);
    let (mlm_loss, sop_loss) = (ours.loss.double_value(&[]), sop.loss.double_value(&[]));
    assert!(
        (mlm_loss + sop_loss - hf_total).abs() < 1e-4,
        "total {} vs HF {hf_total}",
        mlm_loss + sop_loss
    );
    assert!(
        (sop_loss - hf_sop).abs() < 1e-4,
        "SOP {sop_loss} vs HF {hf_sop}"
    );
    assert!(
        sop_loss > 0.05,
        "a random head's SOP loss is not zero: {sop_loss}"
    );
    assert_eq!(sop.labelled, 2, "the row without a pair is not scored");
    let hf_right = hf["sop_logits"]
        .argmax(-1, false)
        .narrow(0, 0, 2)
        .eq_tensor(&order.narrow(0, 0, 2))
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert_eq!(sop.correct, hf_right);
    // Counted against the labels: HF's own guesses are all right, their opposites all wrong.
    let guesses = hf["sop_logits"].argmax(-1, false).narrow(0, 0, 2);
    for (labels, right) in [
        (guesses.shallow_clone(), 2),
        (guesses.ones_like() - &guesses, 0),
    ] {
        let labels = Tensor::cat(&[labels, Tensor::from_slice(&[IGNORED_LABEL])], 0);
        let out = tch::no_grad(|| {
            mlm.forward(
                &MlmBatch {
                    sentence_order_labels: Some(&labels),
                    ..batch
                },
                false,
            )
        });
        assert_eq!(out.sentence_order.unwrap().correct, right);
    }

    // The token types reach the encoder: all zeros give another loss.
    let flat = MlmBatch {
        token_type_ids: None,
        ..batch
    };
    let without = tch::no_grad(|| mlm.forward(&flat, false))
        .loss
        .double_value(&[]);
    assert!((without - mlm_loss).abs() > 1e-6, "{without} vs {mlm_loss}");
}

#[test]
fn a_sentence_order_head_continues_from_a_directory_that_has_one_and_starts_new_otherwise() {
    let order_head = vec![
        "albert.pooler.bias",
        "albert.pooler.weight",
        "sop_classifier.classifier.bias",
        "sop_classifier.classifier.weight",
    ];
    tch::manual_seed(13);
    let vs = nn::VarStore::new(Device::Cpu);
    let mlm = MaskedLm::with_sentence_order(&vs.root(), &albert()).unwrap();
    perturb(&vs);
    let with_head = tempfile::tempdir().unwrap();
    save_masked_lm(with_head.path(), &vs, &mlm, vocab_file(with_head.path())).unwrap();
    let (ids, mask, labels, types, order) = segment_batch();
    let batch = MlmBatch {
        input_ids: &ids,
        attention_mask: &mask,
        labels: &labels,
        token_type_ids: Some(&types),
        sentence_order_labels: Some(&order),
    };
    let sop_loss = |m: &MaskedLm| {
        tch::no_grad(|| m.forward(&batch, false))
            .sentence_order
            .unwrap()
            .loss
            .double_value(&[])
    };

    // Continued: nothing new, the same SOP loss, and the log says so.
    let weights = PretrainedWeights::open(with_head.path()).unwrap();
    let mut again = nn::VarStore::new(Device::Cpu);
    let resumed = MaskedLm::with_sentence_order(&again.root(), weights.config()).unwrap();
    let report = weights.load_into(&mut again).unwrap();
    assert!(report.fresh.is_empty(), "{report}");
    assert!(
        report.to_string().contains("sentence-order head continued"),
        "{report}"
    );
    assert_eq!(sop_loss(&mlm), sop_loss(&resumed));

    // Into a masked LM without the head: skipped, nothing missing.
    let mut plain_vs = nn::VarStore::new(Device::Cpu);
    let plain_mlm = MaskedLm::new(&plain_vs.root(), weights.config());
    let report = weights.load_into(&mut plain_vs).unwrap();
    assert!(report.fresh.is_empty(), "{report}");
    for name in &order_head {
        assert!(report.skipped.iter().any(|s| s == name), "{name}: {report}");
    }

    // From a directory without it (a masked LM's): the encoder and MLM head load, the four start new.
    let without_head = tempfile::tempdir().unwrap();
    save_masked_lm(
        without_head.path(),
        &plain_vs,
        &plain_mlm,
        vocab_file(without_head.path()),
    )
    .unwrap();
    let weights = PretrainedWeights::open(without_head.path()).unwrap();
    let mut new_head = nn::VarStore::new(Device::Cpu);
    let _ = MaskedLm::with_sentence_order(&new_head.root(), weights.config()).unwrap();
    let report = weights.load_into(&mut new_head).unwrap();
    assert_eq!(report.fresh, order_head, "{report}");
    assert!(
        report.to_string().contains("MLM head continued"),
        "{report}"
    );

    // Part of the head is no head: the classifier alone missing, the pooler is skipped and all four
    // start new.
    let partial = copy_without(with_head.path(), |n| n.starts_with("sop_classifier."));
    let weights = PretrainedWeights::open(partial.path()).unwrap();
    let mut partial_vs = nn::VarStore::new(Device::Cpu);
    let _ = MaskedLm::with_sentence_order(&partial_vs.root(), weights.config()).unwrap();
    let report = weights.load_into(&mut partial_vs).unwrap();
    assert_eq!(report.fresh, order_head, "{report}");
    assert!(
        report.skipped.iter().any(|s| s == "albert.pooler.weight"),
        "{report}"
    );

    // BERT has no sentence-order task.
    let e = MaskedLm::with_sentence_order(&nn::VarStore::new(Device::Cpu).root(), &bert())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sentence_order_prediction=false"), "{e}");
}
