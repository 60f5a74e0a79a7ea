//! The indexes of three public Chinese ALBERT releases (fixtures/real-index, see its PROVENANCE.md):
//! each parses, its layout is detected from the names, and its load plan accounts for every variable
//! under the config that shipped with it. The data shards are not here, so nothing is loaded.

use std::path::{Path, PathBuf};

use albert_model::AlbertConfig;
use albert_model::{plan_tf_load, TfLayout};

fn release(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/real-index")
        .join(name)
}

fn config_in(dir: &Path) -> AlbertConfig {
    let json = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    AlbertConfig::from_json_file(json).unwrap()
}

#[test]
fn every_real_release_plans_completely() {
    for (name, layout, variables, skipped) in [
        ("brightmart_albert_tiny", TfLayout::Brightmart, 31, 9),
        ("google_albert_tiny_zh", TfLayout::Google, 97, 97 - 23),
        (
            "google_albert_tiny_zh_no_projection",
            TfLayout::GoogleUnfactorised,
            30,
            9,
        ),
    ] {
        let dir = release(name);
        let vars = tf_checkpoint::read_index(&dir.join("albert_model.ckpt.index")).unwrap();
        assert_eq!(vars.len(), variables, "{name}");
        assert_eq!(
            TfLayout::detect(vars.iter().map(|v| v.name.as_str())),
            Some(layout),
            "{name}"
        );
        let raw = config_in(&dir);
        let plan = plan_tf_load(layout, &vars, &raw)
            .unwrap_or_else(|problems| panic!("{name}: {problems:?}"));
        assert_eq!(plan.skipped.len(), skipped, "{name}: {:?}", plan.skipped);
        assert_eq!(plan.steps.len() + plan.skipped.len(), vars.len(), "{name}");
        // The model built from the plan's config has exactly the planned encoder variables.
        let model_config = layout.model_config(&raw);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _model = albert_model::AlbertModel::new(&(vs.root() / "albert"), &model_config);
        let from_file = plan.steps.len() - usize::from(layout == TfLayout::Brightmart);
        let synthesised = if plan.identity_projection { 2 } else { 0 };
        assert_eq!(
            vs.variables().len(),
            from_file + synthesised,
            "{name}: every model variable is planned"
        );
    }
}

#[test]
fn the_google_release_skips_slots_heads_and_the_step() {
    let dir = release("google_albert_tiny_zh");
    let vars = tf_checkpoint::read_index(&dir.join("albert_model.ckpt.index")).unwrap();
    let plan = plan_tf_load(TfLayout::Google, &vars, &config_in(&dir)).unwrap();
    for skipped in [
        "global_step",
        "bert/pooler/dense/kernel",
        "cls/predictions/output_bias",
        "bert/encoder/transformer/group_0/inner_group_0/LayerNorm_1/gamma/adam_m",
    ] {
        assert!(plan.skipped.iter().any(|s| s == skipped), "{skipped}");
    }
    // Planned under the wrong config, every mismatch is listed at once.
    let wrong = AlbertConfig {
        intermediate_size: 1000,
        ..config_in(&dir)
    };
    let problems = plan_tf_load(TfLayout::Google, &vars, &wrong).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
}

/// A Chinese BERT-base release (Google's BERT names, 12 layers, an MLM head): detected as BERT, and its
/// plan accounts for every variable and writes every variable of the BERT built from its own
/// `bert_config.json`.
#[test]
fn the_bert_release_plans_completely_into_bert_model() {
    let dir = release("chinese_bert_vocab5981");
    let vars = tf_checkpoint::read_index(&dir.join("bert_model.ckpt.index")).unwrap();
    assert_eq!(vars.len(), 202);
    let layout = TfLayout::detect(vars.iter().map(|v| v.name.as_str())).unwrap();
    assert_eq!(layout, TfLayout::GoogleBert);
    let config = albert_model::BertConfig::from_json_file(dir.join("bert_config.json")).unwrap();
    let plan = plan_tf_load(layout, &vars, &config.as_albert()).unwrap();
    assert_eq!(plan.skipped.len(), 5, "the MLM head: {:?}", plan.skipped);
    assert!(plan.skipped.iter().all(|s| s.starts_with("cls/")));
    assert_eq!(plan.steps.len(), 197);
    assert!(!plan.identity_projection);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = albert_model::BertModel::new(&(vs.root() / "bert"), &config);
    let mut planned: Vec<String> = plan
        .steps
        .iter()
        .map(|s| match &s.target {
            albert_model::PlanTarget::Copy { hf, .. } => hf.clone(),
            other => panic!("BERT copies every tensor: {other:?}"),
        })
        .collect();
    let mut variables: Vec<String> = vs.variables().into_keys().collect();
    planned.sort();
    variables.sort();
    assert_eq!(planned, variables, "every BERT variable is planned, once");
}

/// Continued pre-training starts from a release's own MLM head: each real release holds it whole, in
/// the shapes of the masked LM built from the release's config (brightmart's at the folded model's
/// width), planned onto exactly the masked LM's head variables.
#[test]
fn every_real_release_brings_its_mlm_head_for_continued_pretraining() {
    use albert_model::{MaskedLm, PlanTarget, TransformerConfig};
    let releases = [
        ("brightmart_albert_tiny", "albert_model.ckpt.index"),
        ("google_albert_tiny_zh", "albert_model.ckpt.index"),
        (
            "google_albert_tiny_zh_no_projection",
            "albert_model.ckpt.index",
        ),
        ("chinese_bert_vocab5981", "bert_model.ckpt.index"),
    ];
    for (name, index) in releases {
        let dir = release(name);
        let vars = tf_checkpoint::read_index(&dir.join(index)).unwrap();
        let layout = TfLayout::detect(vars.iter().map(|v| v.name.as_str())).unwrap();
        let (raw, model) = if layout == TfLayout::GoogleBert {
            let bert =
                albert_model::BertConfig::from_json_file(dir.join("bert_config.json")).unwrap();
            (bert.as_albert(), TransformerConfig::Bert(bert))
        } else {
            let raw = config_in(&dir);
            let folded = layout.model_config(&raw);
            (raw, TransformerConfig::Albert(folded))
        };
        let plan = plan_tf_load(layout, &vars, &raw).unwrap();
        assert_eq!(plan.mlm_head.len(), 5, "{name}: {:?}", plan.skipped);

        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _mlm = MaskedLm::new(&vs.root(), &model);
        let prefix = format!("{}.", layout.model_prefix());
        let head: std::collections::BTreeMap<String, Vec<i64>> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| !n.starts_with(&prefix))
            .map(|(n, t)| (n, t.size()))
            .collect();
        let planned: std::collections::BTreeMap<String, Vec<i64>> = plan
            .mlm_head
            .iter()
            .map(|s| match &s.target {
                PlanTarget::Copy { hf, transpose } => {
                    let mut shape = s.shape.clone();
                    if *transpose {
                        shape.reverse();
                    }
                    (hf.clone(), shape)
                }
                other => panic!("{name}: the head is copied: {other:?}"),
            })
            .collect();
        assert_eq!(planned, head, "{name}");
    }
}
