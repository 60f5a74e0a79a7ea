//! albert_zh (brightmart) TensorFlow checkpoints, folded into HF's ALBERT layout.
//!
//! brightmart's model looks words up in an E-wide table, projects them to H (`word_embeddings_2`, no
//! bias) and only then adds H-wide position / token-type embeddings and normalises over H; HF projects
//! *after* the embedding LayerNorm. Since (one-hot · W₁) · W₂ = one-hot · (W₁W₂), the lookup+projection is
//! exactly a lookup in the [V,H] table W₁W₂ (computed here in f64), after which HF's layout fits with
//! `embedding_size` = H and `embedding_hidden_mapping_in` = identity, zero bias. The single
//! `layer_shared` block is HF's one group of one layer; TF dense kernels are [in,out], torch Linear
//! weights [out,in].

use std::path::{Path, PathBuf};

use tch::{nn, Kind, Tensor};
use tf_checkpoint::Checkpoint;

use super::{LoadReport, Vocab};
use crate::config::AlbertConfig;
use crate::error::{ModelError, Result};
use crate::loading::Assigner;

const EMB: &str = "bert/embeddings/";
const SHARED: &str = "bert/encoder/layer_shared/";
const HF_LAYER: &str = "albert.encoder.albert_layer_groups.0.albert_layers.0.";

/// brightmart layer tensor (under `layer_shared/`) → HF layer variable, and whether it is a TF kernel
/// (transposed on load).
const LAYER_MAP: &[(&str, &str, bool)] = &[
    (
        "attention/self/query/kernel",
        "attention.query.weight",
        true,
    ),
    ("attention/self/query/bias", "attention.query.bias", false),
    ("attention/self/key/kernel", "attention.key.weight", true),
    ("attention/self/key/bias", "attention.key.bias", false),
    (
        "attention/self/value/kernel",
        "attention.value.weight",
        true,
    ),
    ("attention/self/value/bias", "attention.value.bias", false),
    (
        "attention/output/dense/kernel",
        "attention.dense.weight",
        true,
    ),
    ("attention/output/dense/bias", "attention.dense.bias", false),
    (
        "attention/output/LayerNorm/gamma",
        "attention.LayerNorm.weight",
        false,
    ),
    (
        "attention/output/LayerNorm/beta",
        "attention.LayerNorm.bias",
        false,
    ),
    ("intermediate/dense/kernel", "ffn.weight", true),
    ("intermediate/dense/bias", "ffn.bias", false),
    ("output/dense/kernel", "ffn_output.weight", true),
    ("output/dense/bias", "ffn_output.bias", false),
    (
        "output/LayerNorm/gamma",
        "full_layer_layer_norm.weight",
        false,
    ),
    ("output/LayerNorm/beta", "full_layer_layer_norm.bias", false),
];

/// Direct embedding tensors (the word table is folded separately).
const EMB_MAP: &[(&str, &str)] = &[
    (
        "position_embeddings",
        "albert.embeddings.position_embeddings.weight",
    ),
    (
        "token_type_embeddings",
        "albert.embeddings.token_type_embeddings.weight",
    ),
    ("LayerNorm/gamma", "albert.embeddings.LayerNorm.weight"),
    ("LayerNorm/beta", "albert.embeddings.LayerNorm.bias"),
];

pub(super) struct AlbertZhCheckpoint {
    ckpt: Checkpoint,
    path: PathBuf,
    raw: AlbertConfig,
    effective: AlbertConfig,
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        file: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl AlbertZhCheckpoint {
    pub(super) fn open(path: &Path, config: Option<AlbertConfig>) -> Result<Self> {
        let ckpt = Checkpoint::open(path).map_err(|e| ModelError::UnknownFormat {
            path: path.to_path_buf(),
            message: format!("neither an HF model directory (config.json + model.safetensors / pytorch_model.bin) nor a readable TF checkpoint: {e}"),
        })?;
        if !ckpt.variables().any(|v| v.name.starts_with(SHARED)) {
            return Err(ModelError::UnknownFormat {
                path: path.to_path_buf(),
                message: format!(
                    "TF checkpoint {} has no `{SHARED}*` variables: not a brightmart albert_zh (post-LN, shared-layer) checkpoint",
                    ckpt.location()
                ),
            });
        }
        let raw = match config {
            Some(c) => c,
            None => Self::bundled_config(&ckpt, path)?,
        };
        let effective = AlbertConfig {
            embedding_size: raw.hidden_size,
            num_hidden_groups: 1,
            inner_group_num: 1,
            ..raw.clone()
        };
        Ok(AlbertZhCheckpoint {
            ckpt,
            path: path.to_path_buf(),
            raw,
            effective,
        })
    }

    /// The one `albert_config*.json` (else `bert_config*.json`, else `config.json`) next to the checkpoint.
    fn bundled_config(ckpt: &Checkpoint, path: &Path) -> Result<AlbertConfig> {
        let files = ckpt.sibling_files();
        let jsons = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
            files
                .iter()
                .filter(|f| f.ends_with(".json") && pred(f))
                .cloned()
                .collect()
        };
        let candidates = [
            jsons(&|f| f.starts_with("albert_config")),
            jsons(&|f| f.starts_with("bert_config")),
            jsons(&|f| f == "config.json"),
        ];
        let Some(found) = candidates.into_iter().find(|c| !c.is_empty()) else {
            return Err(ModelError::config(
                Some(path),
                format!("no albert_config*.json next to the checkpoint (files there: {files:?}); pass the config explicitly"),
            ));
        };
        if found.len() > 1 {
            return Err(ModelError::config(
                Some(path),
                format!("several configs next to the checkpoint: {found:?}"),
            ));
        }
        let bytes = ckpt
            .read_sibling(&found[0])
            .map_err(|e| ckpt_err(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ckpt_err(path, format!("{}: not UTF-8: {e}", found[0])))?;
        let shown = PathBuf::from(format!(
            "{}/{}",
            ckpt.location()
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or("."),
            found[0]
        ));
        AlbertConfig::from_json_str_detect(&text, Some(&shown))
    }

    pub(super) fn effective_config(&self) -> &AlbertConfig {
        &self.effective
    }

    /// `vocab.txt` next to the checkpoint: a path for directories, bytes from a zip.
    pub(super) fn vocab(&self) -> Result<Option<Vocab>> {
        if !self.ckpt.sibling_files().iter().any(|f| f == "vocab.txt") {
            return Ok(None);
        }
        let dir = if self.path.is_dir() {
            Some(self.path.clone())
        } else {
            self.path.parent().map(Path::to_path_buf)
        };
        if let Some(file) = dir.map(|d| d.join("vocab.txt")).filter(|f| f.is_file()) {
            if !is_zip(&self.path) {
                return Ok(Some(Vocab::File(file)));
            }
        }
        let bytes = self
            .ckpt
            .read_sibling("vocab.txt")
            .map_err(|e| ckpt_err(&self.path, e))?;
        Ok(Some(Vocab::Bundled(bytes)))
    }

    /// Shape each brightmart tensor must have under the raw config.
    fn expected_shapes(&self) -> Vec<(String, Vec<i64>)> {
        let c = &self.raw;
        let (v, e, h, i) = (
            c.vocab_size,
            c.embedding_size,
            c.hidden_size,
            c.intermediate_size,
        );
        let mut out = vec![
            (format!("{EMB}word_embeddings"), vec![v, e]),
            (format!("{EMB}word_embeddings_2"), vec![e, h]),
            (
                format!("{EMB}position_embeddings"),
                vec![c.max_position_embeddings, h],
            ),
            (
                format!("{EMB}token_type_embeddings"),
                vec![c.type_vocab_size, h],
            ),
            (format!("{EMB}LayerNorm/gamma"), vec![h]),
            (format!("{EMB}LayerNorm/beta"), vec![h]),
        ];
        for (tf, _, kernel) in LAYER_MAP {
            let shape = match (*tf, *kernel) {
                ("intermediate/dense/kernel", _) => vec![h, i],
                ("intermediate/dense/bias", _) => vec![i],
                ("output/dense/kernel", _) => vec![i, h],
                (_, true) => vec![h, h],
                (_, false) => vec![h],
            };
            out.push((format!("{SHARED}{tf}"), shape));
        }
        out
    }

    fn read(&self, name: &str, expected: &[i64]) -> Result<Tensor> {
        let Some(var) = self.ckpt.variable(name) else {
            return Err(ModelError::MissingTensor {
                file: self.path.clone(),
                tensor: name.to_string(),
                expected: expected.to_vec(),
            });
        };
        let shape: Vec<i64> = var.shape.iter().map(|&d| d as i64).collect();
        if shape != expected {
            return Err(ModelError::ShapeMismatch {
                file: self.path.clone(),
                tensor: name.to_string(),
                found: shape,
                expected: expected.to_vec(),
            });
        }
        let data = self
            .ckpt
            .read_f32(name)
            .map_err(|e| ckpt_err(&self.path, e))?;
        Ok(Tensor::from_slice(&data).view(shape.as_slice()))
    }

    pub(super) fn load_into(&self, vs: &mut nn::VarStore) -> Result<LoadReport> {
        let expected = self.expected_shapes();
        let mut report = LoadReport {
            source: self.ckpt.location(),
            ..Default::default()
        };
        for var in self.ckpt.variables() {
            if expected.iter().any(|(n, _)| *n == var.name) {
                continue;
            }
            if skippable(&var.name) {
                report.skipped.push(var.name.clone());
            } else {
                return Err(ModelError::UnexpectedTensor {
                    file: self.path.clone(),
                    tensor: var.name.clone(),
                    shape: var.shape.iter().map(|&d| d as i64).collect(),
                });
            }
        }
        let shape_of = |n: &str| {
            expected
                .iter()
                .find(|(e, _)| e == n)
                .map(|(_, s)| s.clone())
                .expect("listed")
        };
        let mut assigner = Assigner::new(vs, &self.path, |n| n.starts_with("albert."));

        let we_name = format!("{EMB}word_embeddings");
        let we2_name = format!("{EMB}word_embeddings_2");
        let we = self.read(&we_name, &shape_of(&we_name))?;
        let we2 = self.read(&we2_name, &shape_of(&we2_name))?;
        let folded = we
            .to_kind(Kind::Double)
            .matmul(&we2.to_kind(Kind::Double))
            .to_kind(Kind::Float);
        assigner.assign("albert.embeddings.word_embeddings.weight", &folded)?;
        for (tf, hf) in EMB_MAP {
            let name = format!("{EMB}{tf}");
            assigner.assign(hf, &self.read(&name, &shape_of(&name))?)?;
        }
        let h = self.raw.hidden_size;
        assigner.assign(
            "albert.encoder.embedding_hidden_mapping_in.weight",
            &Tensor::eye(h, (Kind::Float, tch::Device::Cpu)),
        )?;
        assigner.assign(
            "albert.encoder.embedding_hidden_mapping_in.bias",
            &Tensor::zeros([h], (Kind::Float, tch::Device::Cpu)),
        )?;
        for (tf, hf, kernel) in LAYER_MAP {
            let name = format!("{SHARED}{tf}");
            let t = self.read(&name, &shape_of(&name))?;
            let t = if *kernel { t.tr().contiguous() } else { t };
            assigner.assign(&format!("{HF_LAYER}{hf}"), &t)?;
        }
        report.loaded = assigner.finish()?;
        report.skipped.sort();
        report.fresh = super::fresh_variables(vs, &report.loaded);
        report.notes.push(format!(
            "albert_zh folded: word_embeddings [{}, {}] · word_embeddings_2 → [{}, {}], embedding_hidden_mapping_in = identity",
            self.raw.vocab_size, self.raw.embedding_size, self.raw.vocab_size, self.raw.hidden_size
        ));
        Ok(report)
    }
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
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
