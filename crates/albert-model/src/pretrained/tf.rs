//! TensorFlow ALBERT checkpoints (brightmart albert_zh, Google ALBERT, and Google names without
//! factorised embeddings) and Google-layout BERT ones: the layout is detected from the variable names and a [`LoadPlan`] maps
//! every variable before any data is read (see `tf_layout.rs`).
//!
//! brightmart's model looks words up in an E-wide table, projects them to H (`word_embeddings_2`, no
//! bias) and only then adds H-wide position / token-type embeddings and normalises over H; HF projects
//! *after* the embedding LayerNorm. Since (one-hot · W₁) · W₂ = one-hot · (W₁W₂), the lookup+projection is
//! exactly a lookup in the [V,H] table W₁W₂ (computed here in f64), after which HF's layout fits with
//! `embedding_size` = H and `embedding_hidden_mapping_in` = identity, zero bias. The single
//! `layer_shared` block is HF's one group of one layer.

use std::path::{Path, PathBuf};

use tch::{nn, Kind, Tensor};
use tf_checkpoint::Checkpoint;

use super::tf_layout::{plan, LoadPlan, Target, TfLayout};
use super::{LoadReport, Vocab};
use crate::bert_config::BertConfig;
use crate::config::AlbertConfig;
use crate::error::{ModelError, Result};
use crate::loading::Assigner;
use crate::transformer::TransformerConfig;

pub(super) struct TfCheckpoint {
    ckpt: Checkpoint,
    path: PathBuf,
    /// The release's config in ALBERT's terms (BERT's through `as_albert`): what the plan was made for.
    raw: AlbertConfig,
    effective: TransformerConfig,
    plan: LoadPlan,
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        file: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl TfCheckpoint {
    /// Opens the checkpoint and plans its load against `config` (else the config bundled with it):
    /// an unknown layout, or any variable that does not fit, fails here, all of them in one error.
    pub(super) fn open(path: &Path, config: Option<TransformerConfig>) -> Result<Self> {
        let ckpt = Checkpoint::open(path).map_err(|e| ModelError::UnknownFormat {
            path: path.to_path_buf(),
            message: format!("neither an HF model directory (config.json + model.safetensors / pytorch_model.bin) nor a readable TF checkpoint: {e}"),
        })?;
        let Some(layout) = TfLayout::detect(ckpt.variables().map(|v| v.name.as_str())) else {
            return Err(ModelError::UnknownFormat {
                path: path.to_path_buf(),
                message: format!(
                    "TF checkpoint {} has none of `bert/encoder/layer_shared/*` (brightmart albert_zh), \
                     `bert/encoder/transformer/group_*` (Google ALBERT) or `bert/encoder/layer_N/*` (Google \
                     BERT) variables: not an ALBERT or BERT checkpoint",
                    ckpt.location()
                ),
            });
        };
        let effective = Self::config_for(layout, config, &ckpt, path)?;
        let raw = match &effective {
            TransformerConfig::Albert(c) => c.clone(),
            TransformerConfig::Bert(b) => b.as_albert(),
        };
        let variables: Vec<tf_checkpoint::Variable> = ckpt.variables().cloned().collect();
        let plan = plan(layout, &variables, &raw).map_err(|problems| ModelError::LoadPlan {
            file: path.to_path_buf(),
            layout: layout.to_string(),
            problems: problems.iter().map(ToString::to_string).collect(),
        })?;
        let effective = match effective {
            TransformerConfig::Albert(_) => TransformerConfig::Albert(layout.model_config(&raw)),
            bert => bert,
        };
        Ok(TfCheckpoint {
            effective,
            ckpt,
            path: path.to_path_buf(),
            raw,
            plan,
        })
    }

    pub(super) fn layout(&self) -> TfLayout {
        self.plan.layout
    }

    /// The config the layout calls for: `given`, else the one bundled with the checkpoint; a config of
    /// the other family than the checkpoint's is refused naming the encoder to use.
    fn config_for(
        layout: TfLayout,
        given: Option<TransformerConfig>,
        ckpt: &Checkpoint,
        path: &Path,
    ) -> Result<TransformerConfig> {
        let bert = layout == TfLayout::GoogleBert;
        let config = match given {
            Some(c) => c,
            None => {
                let (text, shown) = Self::bundled_config(ckpt, path)?;
                if bert {
                    TransformerConfig::Bert(BertConfig::from_json_str(&text, Some(&shown))?)
                } else {
                    TransformerConfig::Albert(AlbertConfig::from_json_str_detect(
                        &text,
                        Some(&shown),
                    )?)
                }
            }
        };
        if matches!(config, TransformerConfig::Bert(_)) != bert {
            let (family, encoder) = if bert {
                ("BERT", "bert")
            } else {
                ("ALBERT", "albert")
            };
            return Err(ModelError::config(
                None,
                format!(
                    "{} is a {family} checkpoint ({layout}) but the config given is not: use \
                     encoder={encoder} (or {encoder}_bilstm) with the release's own config",
                    path.display()
                ),
            ));
        }
        Ok(config)
    }

    /// The one `albert_config*.json` (else `bert_config*.json`, else `config.json`) next to the
    /// checkpoint: its text, and its path for errors.
    fn bundled_config(ckpt: &Checkpoint, path: &Path) -> Result<(String, PathBuf)> {
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
        Ok((text, shown))
    }

    pub(super) fn effective_config(&self) -> &TransformerConfig {
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

    /// Reads `name` as planned (its shape was checked against the index when planning).
    fn read(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let data = self
            .ckpt
            .read_f32(name)
            .map_err(|e| ckpt_err(&self.path, e))?;
        Ok(Tensor::from_slice(&data).view(shape))
    }

    pub(super) fn load_into(&self, vs: &mut nn::VarStore) -> Result<LoadReport> {
        let mut report = LoadReport {
            source: self.ckpt.location(),
            skipped: self.plan.skipped.clone(),
            ..Default::default()
        };
        let prefix = format!("{}.", self.plan.layout.model_prefix());
        let mut assigner =
            Assigner::new(vs, &self.path, |n| super::is_encoder_variable(n, &prefix));
        let (mut word_table, mut word_projection) = (None, None);
        for step in &self.plan.steps {
            let t = self.read(&step.tf, &step.shape)?;
            match &step.target {
                Target::Copy { hf, transpose } => {
                    let t = if *transpose { t.tr().contiguous() } else { t };
                    assigner.assign(hf, &t)?;
                }
                Target::WordTable => word_table = Some(t),
                Target::WordProjection => word_projection = Some(t),
            }
        }
        if let (Some(table), Some(projection)) = (word_table, word_projection) {
            let folded = table
                .to_kind(Kind::Double)
                .matmul(&projection.to_kind(Kind::Double))
                .to_kind(Kind::Float);
            assigner.assign("albert.embeddings.word_embeddings.weight", &folded)?;
            report.notes.push(format!(
                "albert_zh folded: word_embeddings [{}, {}] · word_embeddings_2 → [{}, {}]",
                self.raw.vocab_size,
                self.raw.embedding_size,
                self.raw.vocab_size,
                self.raw.hidden_size
            ));
        }
        if self.plan.identity_projection {
            let h = self.raw.hidden_size;
            assigner.assign(
                "albert.encoder.embedding_hidden_mapping_in.weight",
                &Tensor::eye(h, (Kind::Float, tch::Device::Cpu)),
            )?;
            assigner.assign(
                "albert.encoder.embedding_hidden_mapping_in.bias",
                &Tensor::zeros([h], (Kind::Float, tch::Device::Cpu)),
            )?;
            report
                .notes
                .push("embedding_hidden_mapping_in = identity (E = H)".to_string());
        }
        report.loaded = assigner.finish()?;
        self.load_mlm_head(vs, &prefix, &mut report)?;
        report.fresh = super::fresh_variables(vs, &report.loaded);
        report
            .notes
            .insert(0, format!("layout: {}", self.plan.layout));
        Ok(report)
    }

    /// The checkpoint's MLM head into a masked LM's head, when `vs` has one and the plan found it.
    fn load_mlm_head(
        &self,
        vs: &nn::VarStore,
        prefix: &str,
        report: &mut LoadReport,
    ) -> Result<()> {
        let mut head = super::HeadAssigner::mlm(vs, &self.path, prefix);
        for step in &self.plan.mlm_head {
            let Target::Copy { hf, transpose } = &step.target else {
                continue;
            };
            if head.wants(hf) {
                let t = self.read(&step.tf, &step.shape)?;
                let t = if *transpose { t.tr().contiguous() } else { t };
                head.assign(hf, &step.tf, &t)?;
            }
        }
        head.report_into(report);
        Ok(())
    }
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}
