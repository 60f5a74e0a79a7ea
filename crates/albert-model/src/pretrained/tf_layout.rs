//! The TensorFlow ALBERT and BERT checkpoint layouts users download, and the load plan that maps each one
//! onto HF's variable names before any tensor data is read.
//!
//! * brightmart albert_zh: `bert/encoder/layer_shared/*`; words are looked up E-wide and projected to
//!   H by `word_embeddings_2` *before* the H-wide position/type embeddings and LayerNorm.
//! * Google ALBERT (and brightmart's `*_google` releases): `bert/encoder/transformer/group_G/
//!   inner_group_I/*`, E-wide embeddings projected by `bert/encoder/embedding_hidden_mapping_in`
//!   after their LayerNorm, exactly HF's structure.
//! * Google names without factorised embeddings (bert4keras conversions): `word_embeddings` is
//!   [V, H] and there is no projection; loaded as E = H with an identity projection, which computes
//!   the same function.
//! * Google BERT (`chinese_L-12_H-768_A-12`, HFL's RoBERTa-wwm-ext and MacBERT TF releases):
//!   `bert/encoder/layer_N/*`, one parameter set per layer, into HF's `BertModel` names.
//!
//! TF dense kernels are [in, out]; torch Linear weights are [out, in], so kernels are transposed.

use std::fmt;

use tf_checkpoint::Variable;

use ner_settings::Encoder;

use crate::config::AlbertConfig;
use crate::masked_lm::HeadNames;

const EMB: &str = "bert/embeddings/";
const BRIGHTMART_LAYER: &str = "bert/encoder/layer_shared/";
const GOOGLE_GROUPS: &str = "bert/encoder/transformer/";
const GOOGLE_PROJECTION: &str = "bert/encoder/embedding_hidden_mapping_in/";
const BERT_LAYERS: &str = "bert/encoder/layer_";
const HF_PROJECTION: &str = "albert.encoder.embedding_hidden_mapping_in.";

/// Which of the known layouts a checkpoint's variable names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfLayout {
    Brightmart,
    Google,
    GoogleUnfactorised,
    /// BERT, not ALBERT: every layer its own variables.
    GoogleBert,
}

impl fmt::Display for TfLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TfLayout::Brightmart => "brightmart albert_zh (layer_shared, word_embeddings_2 folded)",
            TfLayout::Google => "Google ALBERT (transformer/group_*/inner_group_*)",
            TfLayout::GoogleUnfactorised => {
                "Google ALBERT without factorised embeddings (E = H, identity projection)"
            }
            TfLayout::GoogleBert => "Google BERT (encoder/layer_N)",
        })
    }
}

impl TfLayout {
    /// The layout the names say, or `None` when they match none.
    pub fn detect<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let (mut brightmart, mut google, mut projection, mut bert) = (false, false, false, false);
        for n in names {
            brightmart |= n.starts_with(BRIGHTMART_LAYER);
            google |= n.starts_with(GOOGLE_GROUPS);
            projection |= n.starts_with(GOOGLE_PROJECTION);
            bert |= n
                .strip_prefix(BERT_LAYERS)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        }
        match (brightmart, google, projection, bert) {
            (true, false, _, false) => Some(TfLayout::Brightmart),
            (false, true, true, false) => Some(TfLayout::Google),
            (false, true, false, false) => Some(TfLayout::GoogleUnfactorised),
            (false, false, false, true) => Some(TfLayout::GoogleBert),
            _ => None,
        }
    }

    /// The model the layout loads into: its variables' prefix in a tagger (`albert`, `bert`).
    pub fn model_prefix(self) -> &'static str {
        match self.family() {
            Encoder::Bert => "bert",
            _ => "albert",
        }
    }

    /// The transformer family it holds (`Encoder::Albert` or `Encoder::Bert`).
    pub fn family(self) -> Encoder {
        match self {
            TfLayout::GoogleBert => Encoder::Bert,
            _ => Encoder::Albert,
        }
    }

    /// The config of the model the plan loads into, from the release's own config.
    pub fn model_config(self, raw: &AlbertConfig) -> AlbertConfig {
        match self {
            TfLayout::Brightmart => AlbertConfig {
                embedding_size: raw.hidden_size,
                num_hidden_groups: 1,
                inner_group_num: 1,
                ..raw.clone()
            },
            TfLayout::Google | TfLayout::GoogleBert => raw.clone(),
            TfLayout::GoogleUnfactorised => AlbertConfig {
                embedding_size: raw.hidden_size,
                ..raw.clone()
            },
        }
    }
}

/// Where one checkpoint tensor goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Into the HF variable of this name, transposed when it is a TF kernel.
    Copy { hf: String, transpose: bool },
    /// brightmart's [V, E] word table: multiplied by [`Target::WordProjection`] into HF's table.
    WordTable,
    /// brightmart's [E, H] `word_embeddings_2`.
    WordProjection,
}

/// One checkpoint tensor the load reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub tf: String,
    pub shape: Vec<i64>,
    pub target: Target,
}

/// Every variable of a checkpoint accounted for, before any data is read.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPlan {
    pub layout: TfLayout,
    pub steps: Vec<Step>,
    /// Not part of the encoder (pooler, `cls/*` heads, optimiser slots, step counters), sorted.
    pub skipped: Vec<String>,
    /// The MLM head (`cls/predictions/*`, among `skipped`) when the checkpoint holds all of it in the
    /// model's shapes: what a masked LM continues from.
    pub mlm_head: Vec<Step>,
    /// HF's `embedding_hidden_mapping_in` is set to the identity (the layouts without it).
    pub identity_projection: bool,
}

/// What does not fit: every missing, mis-shaped or unknown variable, found at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    Missing {
        tf: String,
        expected: Vec<i64>,
    },
    Shape {
        tf: String,
        found: Vec<i64>,
        expected: Vec<i64>,
    },
    Unknown {
        tf: String,
        shape: Vec<i64>,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing { tf, expected } => {
                write!(f, "`{tf}` is missing (expected shape {expected:?})")
            }
            Mismatch::Shape {
                tf,
                found,
                expected,
            } => write!(
                f,
                "`{tf}` has shape {found:?} in the file, {expected:?} expected"
            ),
            Mismatch::Unknown { tf, shape } => {
                write!(f, "`{tf}` {shape:?} is not a variable of this layout")
            }
        }
    }
}

/// Maps every variable in `vars` to a model parameter of the right shape for `raw` (the release's
/// config) or to a listed skip; otherwise returns every mismatch.
pub fn plan(
    layout: TfLayout,
    vars: &[Variable],
    raw: &AlbertConfig,
) -> Result<LoadPlan, Vec<Mismatch>> {
    let wanted = expected_steps(layout, raw);
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for var in vars {
        let shape: Vec<i64> = var.shape.iter().map(|&d| d as i64).collect();
        match wanted.iter().find(|s| s.tf == var.name) {
            Some(step) if step.shape != shape => problems.push(Mismatch::Shape {
                tf: var.name.clone(),
                found: shape,
                expected: step.shape.clone(),
            }),
            Some(_) => {}
            None if skippable(&var.name) => skipped.push(var.name.clone()),
            None => problems.push(Mismatch::Unknown {
                tf: var.name.clone(),
                shape,
            }),
        }
    }
    for step in &wanted {
        if !vars.iter().any(|v| v.name == step.tf) {
            problems.push(Mismatch::Missing {
                tf: step.tf.clone(),
                expected: step.shape.clone(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    skipped.sort();
    let head = mlm_head_steps(layout, raw);
    let holds = |step: &Step| {
        vars.iter().any(|v| {
            v.name == step.tf
                && v.shape
                    .iter()
                    .map(|&d| d as i64)
                    .eq(step.shape.iter().copied())
        })
    };
    let mlm_head = if head.iter().all(holds) {
        head
    } else {
        Vec::new()
    };
    Ok(LoadPlan {
        layout,
        steps: wanted,
        skipped,
        mlm_head,
        identity_projection: matches!(layout, TfLayout::Brightmart | TfLayout::GoogleUnfactorised),
    })
}

fn copy(tf: String, shape: Vec<i64>, hf: String, transpose: bool) -> Step {
    Step {
        tf,
        shape,
        target: Target::Copy { hf, transpose },
    }
}

/// The MLM head as TF releases hold it, into a masked LM's head ([`HeadNames`]): dense, LayerNorm and
/// output bias, as wide as the model's embeddings (brightmart's head works at the hidden size and its
/// decoder is the folded table, so it fits the folded model as it is).
fn mlm_head_steps(layout: TfLayout, raw: &AlbertConfig) -> Vec<Step> {
    let (h, e) = (raw.hidden_size, layout.model_config(raw).embedding_size);
    let names = HeadNames::of(layout.family());
    let tf = |leaf: &str| format!("cls/predictions/{leaf}");
    vec![
        copy(
            tf("transform/dense/kernel"),
            vec![h, e],
            names.dense("weight"),
            true,
        ),
        copy(
            tf("transform/dense/bias"),
            vec![e],
            names.dense("bias"),
            false,
        ),
        copy(
            tf("transform/LayerNorm/gamma"),
            vec![e],
            names.layer_norm("weight"),
            false,
        ),
        copy(
            tf("transform/LayerNorm/beta"),
            vec![e],
            names.layer_norm("bias"),
            false,
        ),
        copy(tf("output_bias"), vec![raw.vocab_size], names.bias(), false),
    ]
}

/// Every tensor `layout` must hold for `raw` (for BERT, its config in ALBERT's terms:
/// `BertConfig::as_albert`), with its destination.
fn expected_steps(layout: TfLayout, raw: &AlbertConfig) -> Vec<Step> {
    let (v, h, i) = (raw.vocab_size, raw.hidden_size, raw.intermediate_size);
    // Width of the position/type embeddings and their LayerNorm.
    let e = match layout {
        TfLayout::Google => raw.embedding_size,
        TfLayout::Brightmart | TfLayout::GoogleUnfactorised | TfLayout::GoogleBert => h,
    };
    let hf_emb = format!("{}.embeddings.", layout.model_prefix());
    let hf_emb = hf_emb.as_str();
    let mut steps = vec![
        copy(
            format!("{EMB}position_embeddings"),
            vec![raw.max_position_embeddings, e],
            format!("{hf_emb}position_embeddings.weight"),
            false,
        ),
        copy(
            format!("{EMB}token_type_embeddings"),
            vec![raw.type_vocab_size, e],
            format!("{hf_emb}token_type_embeddings.weight"),
            false,
        ),
        copy(
            format!("{EMB}LayerNorm/gamma"),
            vec![e],
            format!("{hf_emb}LayerNorm.weight"),
            false,
        ),
        copy(
            format!("{EMB}LayerNorm/beta"),
            vec![e],
            format!("{hf_emb}LayerNorm.bias"),
            false,
        ),
    ];
    match layout {
        TfLayout::Brightmart => {
            steps.push(Step {
                tf: format!("{EMB}word_embeddings"),
                shape: vec![v, raw.embedding_size],
                target: Target::WordTable,
            });
            steps.push(Step {
                tf: format!("{EMB}word_embeddings_2"),
                shape: vec![raw.embedding_size, h],
                target: Target::WordProjection,
            });
            let hf = albert_layer(0, 0);
            layer_steps(
                &mut steps,
                BRIGHTMART_LAYER,
                &BERT_TF_NAMES,
                &hf,
                &ALBERT_HF_VARS,
                h,
                i,
            );
        }
        TfLayout::GoogleBert => {
            steps.push(copy(
                format!("{EMB}word_embeddings"),
                vec![v, h],
                format!("{hf_emb}word_embeddings.weight"),
                false,
            ));
            for n in 0..raw.num_hidden_layers {
                let (tf, hf) = (
                    format!("{BERT_LAYERS}{n}/"),
                    format!("bert.encoder.layer.{n}."),
                );
                layer_steps(&mut steps, &tf, &BERT_TF_NAMES, &hf, &BERT_HF_VARS, h, i);
            }
        }
        TfLayout::Google | TfLayout::GoogleUnfactorised => {
            steps.push(copy(
                format!("{EMB}word_embeddings"),
                vec![v, e],
                format!("{hf_emb}word_embeddings.weight"),
                false,
            ));
            if layout == TfLayout::Google {
                steps.push(copy(
                    format!("{GOOGLE_PROJECTION}kernel"),
                    vec![e, h],
                    format!("{HF_PROJECTION}weight"),
                    true,
                ));
                steps.push(copy(
                    format!("{GOOGLE_PROJECTION}bias"),
                    vec![h],
                    format!("{HF_PROJECTION}bias"),
                    false,
                ));
            }
            for g in 0..raw.num_hidden_groups {
                for l in 0..raw.inner_group_num {
                    let prefix = format!("{GOOGLE_GROUPS}group_{g}/inner_group_{l}/");
                    let hf = albert_layer(g, l);
                    layer_steps(
                        &mut steps,
                        &prefix,
                        &GOOGLE_NAMES,
                        &hf,
                        &ALBERT_HF_VARS,
                        h,
                        i,
                    );
                }
            }
        }
    }
    steps
}

/// TF names (under a layer's prefix) of HF's layer variables, in [`ALBERT_HF_VARS`] order.
type LayerNames = [&'static str; 8];

/// HF's variables of one layer, with their TF form: a dense layer (kernel + bias) or a LayerNorm
/// (gamma + beta).
type HfLayerVars = [(&'static str, Form); 8];

/// HF's ALBERT layer prefix for group `g`, inner layer `l`.
fn albert_layer(g: i64, l: i64) -> String {
    format!("albert.encoder.albert_layer_groups.{g}.albert_layers.{l}.")
}

/// HF's ALBERT layer variables (under `albert_layer_groups.G.albert_layers.I.`).
const ALBERT_HF_VARS: HfLayerVars = [
    ("attention.query", Form::Dense(Width::H, Width::H)),
    ("attention.key", Form::Dense(Width::H, Width::H)),
    ("attention.value", Form::Dense(Width::H, Width::H)),
    ("attention.dense", Form::Dense(Width::H, Width::H)),
    ("attention.LayerNorm", Form::LayerNorm),
    ("ffn", Form::Dense(Width::H, Width::I)),
    ("ffn_output", Form::Dense(Width::I, Width::H)),
    ("full_layer_layer_norm", Form::LayerNorm),
];

/// HF's BERT layer variables (under `encoder.layer.N.`), in the same order.
const BERT_HF_VARS: HfLayerVars = [
    ("attention.self.query", Form::Dense(Width::H, Width::H)),
    ("attention.self.key", Form::Dense(Width::H, Width::H)),
    ("attention.self.value", Form::Dense(Width::H, Width::H)),
    ("attention.output.dense", Form::Dense(Width::H, Width::H)),
    ("attention.output.LayerNorm", Form::LayerNorm),
    ("intermediate.dense", Form::Dense(Width::H, Width::I)),
    ("output.dense", Form::Dense(Width::I, Width::H)),
    ("output.LayerNorm", Form::LayerNorm),
];

/// BERT's TF names of a layer's variables: Google's BERT and brightmart's shared ALBERT layer.
const BERT_TF_NAMES: LayerNames = [
    "attention/self/query",
    "attention/self/key",
    "attention/self/value",
    "attention/output/dense",
    "attention/output/LayerNorm",
    "intermediate/dense",
    "output/dense",
    "output/LayerNorm",
];

const GOOGLE_NAMES: LayerNames = [
    "attention_1/self/query",
    "attention_1/self/key",
    "attention_1/self/value",
    "attention_1/output/dense",
    "LayerNorm",
    "ffn_1/intermediate/dense",
    "ffn_1/intermediate/output/dense",
    "LayerNorm_1",
];

#[derive(Clone, Copy)]
enum Width {
    H,
    I,
}

#[derive(Clone, Copy)]
enum Form {
    /// Input and output widths.
    Dense(Width, Width),
    LayerNorm,
}

/// One layer's steps: `names` under `prefix` in the checkpoint, `hf_vars` under `hf_prefix`.
fn layer_steps(
    steps: &mut Vec<Step>,
    prefix: &str,
    names: &LayerNames,
    hf_prefix: &str,
    hf_vars: &HfLayerVars,
    h: i64,
    i: i64,
) {
    let width = |w: Width| match w {
        Width::H => h,
        Width::I => i,
    };
    for ((hf, form), tf) in hf_vars.iter().zip(names) {
        let (tf, hf) = (format!("{prefix}{tf}/"), format!("{hf_prefix}{hf}."));
        match *form {
            Form::Dense(input, output) => {
                let (input, output) = (width(input), width(output));
                steps.push(copy(
                    format!("{tf}kernel"),
                    vec![input, output],
                    format!("{hf}weight"),
                    true,
                ));
                steps.push(copy(
                    format!("{tf}bias"),
                    vec![output],
                    format!("{hf}bias"),
                    false,
                ));
            }
            Form::LayerNorm => {
                steps.push(copy(
                    format!("{tf}gamma"),
                    vec![h],
                    format!("{hf}weight"),
                    false,
                ));
                steps.push(copy(
                    format!("{tf}beta"),
                    vec![h],
                    format!("{hf}bias"),
                    false,
                ));
            }
        }
    }
}

/// Checkpoint tensors that are not part of the encoder: pretraining heads, pooler, optimizer state,
/// step counters, loss scaling, TF bookkeeping, and the task head of an albert_zh fine-tuning run.
fn skippable(name: &str) -> bool {
    name.ends_with("/adam_m")
        || name.ends_with("/adam_v")
        || name.ends_with("/lamb_m")
        || name.ends_with("/lamb_v")
        || name.ends_with("/Adam")
        || name.ends_with("/Adam_1")
        || name.starts_with("cls/")
        || name.starts_with("bert/pooler/")
        || name.starts_with("_CHECKPOINTABLE_OBJECT_GRAPH")
        || matches!(
            name,
            "global_step"
                | "beta1_power"
                | "beta2_power"
                | "good_steps"
                | "loss_scale"
                | "output_weights"
                | "output_bias"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_checkpoint::DType;

    fn var(name: &str, shape: &[usize]) -> Variable {
        Variable {
            name: name.into(),
            dtype: DType::Float,
            shape: shape.to_vec(),
        }
    }

    fn small() -> AlbertConfig {
        AlbertConfig {
            vocab_size: 10,
            embedding_size: 4,
            hidden_size: 6,
            intermediate_size: 12,
            num_attention_heads: 2,
            num_hidden_layers: 2,
            num_hidden_groups: 1,
            inner_group_num: 1,
            max_position_embeddings: 8,
            ..AlbertConfig::default()
        }
    }

    /// A checkpoint holding exactly what `layout` expects, plus an optimiser slot and the step.
    fn complete(layout: TfLayout, c: &AlbertConfig) -> Vec<Variable> {
        let mut vars: Vec<Variable> = expected_steps(layout, c)
            .iter()
            .map(|s| {
                let shape: Vec<usize> = s.shape.iter().map(|&d| d as usize).collect();
                var(&s.tf, &shape)
            })
            .collect();
        vars.push(var(&format!("{EMB}word_embeddings/adam_m"), &[10, 4]));
        vars.push(Variable {
            name: "global_step".into(),
            dtype: DType::Int64,
            shape: vec![],
        });
        vars
    }

    #[test]
    fn each_layout_is_detected_and_its_plan_covers_every_model_variable() {
        for layout in [
            TfLayout::Brightmart,
            TfLayout::Google,
            TfLayout::GoogleUnfactorised,
            TfLayout::GoogleBert,
        ] {
            let c = small();
            let vars = complete(layout, &c);
            assert_eq!(
                TfLayout::detect(vars.iter().map(|v| v.name.as_str())),
                Some(layout)
            );
            let plan = plan(layout, &vars, &c).unwrap();
            assert_eq!(plan.skipped.len(), 2, "{:?}", plan.skipped);
            // 4 position/type/LayerNorm, the word table, then brightmart's word projection or
            // Google's kernel + bias projection, and 16 per layer: ALBERT's one shared layer, or
            // each of BERT's.
            let (fixed, layers) = match layout {
                TfLayout::Brightmart => (6, 1),
                TfLayout::Google => (7, 1),
                TfLayout::GoogleUnfactorised => (5, 1),
                TfLayout::GoogleBert => (5, c.num_hidden_layers as usize),
            };
            assert_eq!(plan.steps.len(), fixed + 16 * layers, "{layout:?}");
            let bert = layout == TfLayout::GoogleBert;
            assert_eq!(
                plan.identity_projection,
                !bert && layout != TfLayout::Google
            );
            assert!(plan.steps.iter().all(|s| match &s.target {
                Target::Copy { hf, .. } => hf.starts_with(if bert { "bert." } else { "albert." }),
                _ => !bert,
            }));
        }
    }

    #[test]
    fn a_whole_mlm_head_in_the_models_width_is_planned_for_a_masked_lm_and_a_partial_one_is_not() {
        // Google's head works at E (4), the others' at H (6): brightmart's folded model, BERT's
        // (whose config in ALBERT's terms has E = H).
        for (layout, width, head) in [
            (TfLayout::Google, 4, "predictions."),
            (TfLayout::Brightmart, 6, "predictions."),
            (TfLayout::GoogleUnfactorised, 6, "predictions."),
            (TfLayout::GoogleBert, 6, "cls.predictions."),
        ] {
            let c = match layout {
                TfLayout::GoogleBert => AlbertConfig {
                    embedding_size: 6,
                    ..small()
                },
                _ => small(),
            };
            let mut vars = complete(layout, &c);
            assert!(plan(layout, &vars, &c).unwrap().mlm_head.is_empty());
            for (name, shape) in [
                ("transform/dense/kernel", vec![6, width]),
                ("transform/dense/bias", vec![width]),
                ("transform/LayerNorm/gamma", vec![width]),
                ("transform/LayerNorm/beta", vec![width]),
                ("output_bias", vec![10]),
            ] {
                vars.push(var(&format!("cls/predictions/{name}"), &shape));
            }
            let whole = plan(layout, &vars, &c).unwrap();
            assert_eq!(whole.mlm_head.len(), 5, "{layout:?}");
            assert!(whole.mlm_head.iter().all(|s| match &s.target {
                Target::Copy { hf, .. } => hf.starts_with(head),
                _ => false,
            }));
            // Listed among the skipped too: a tagger does not load it.
            assert_eq!(whole.skipped.len(), 2 + 5);

            vars.retain(|v| v.name != "cls/predictions/transform/LayerNorm/beta");
            assert!(
                plan(layout, &vars, &c).unwrap().mlm_head.is_empty(),
                "{layout:?}"
            );
        }
        // A head of another width (Google's E-wide head against a folded, H-wide model) is not.
        let c = small();
        let mut vars = complete(TfLayout::Brightmart, &c);
        vars.push(var("cls/predictions/transform/dense/kernel", &[6, 4]));
        for name in ["dense/bias", "LayerNorm/gamma", "LayerNorm/beta"] {
            vars.push(var(&format!("cls/predictions/transform/{name}"), &[4]));
        }
        vars.push(var("cls/predictions/output_bias", &[10]));
        assert!(plan(TfLayout::Brightmart, &vars, &c)
            .unwrap()
            .mlm_head
            .is_empty());
    }

    #[test]
    fn every_mismatch_is_reported_at_once() {
        let c = small();
        let mut vars = complete(TfLayout::Google, &c);
        vars.retain(|v| !v.name.ends_with("LayerNorm_1/beta"));
        for v in &mut vars {
            if v.name.ends_with("ffn_1/intermediate/dense/kernel") {
                v.shape = vec![6, 99];
            }
        }
        vars.push(var("bert/encoder/mystery", &[3]));
        let problems = plan(TfLayout::Google, &vars, &c).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{text:?}");
        assert!(text
            .iter()
            .any(|t| t.contains("LayerNorm_1/beta` is missing")));
        assert!(text
            .iter()
            .any(|t| t.contains("[6, 99] in the file, [6, 12] expected")));
        assert!(text.iter().any(|t| t.contains("mystery")));
    }

    #[test]
    fn groups_and_inner_groups_map_to_hf_indices() {
        let c = AlbertConfig {
            num_hidden_groups: 2,
            inner_group_num: 2,
            num_hidden_layers: 4,
            ..small()
        };
        let steps = expected_steps(TfLayout::Google, &c);
        let step = steps
            .iter()
            .find(|s| s.tf.ends_with("group_1/inner_group_0/LayerNorm_1/gamma"))
            .unwrap();
        assert_eq!(
            step.target,
            Target::Copy {
                hf: "albert.encoder.albert_layer_groups.1.albert_layers.0.full_layer_layer_norm.weight"
                    .into(),
                transpose: false
            }
        );
    }
}
