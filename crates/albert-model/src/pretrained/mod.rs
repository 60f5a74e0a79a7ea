//! Pretrained encoder weights in the formats users hand us, detected from the path.
//!
//! * HF directories as `save_pretrained` writes them: `config.json` + `model.safetensors` or
//!   `pytorch_model.bin` (torch.save zip), keys with or without the `albert.` prefix, from `AlbertModel`,
//!   `AlbertForPreTraining`, `AlbertForTokenClassification`, ….
//! * TensorFlow ALBERT checkpoints — a directory, `.index` file, prefix or the release `.zip` — in
//!   brightmart's albert_zh layout (folded into HF's), Google's layout, or Google's names without
//!   factorised embeddings; the layout is detected from the names (see `tf_layout.rs`, `tf.rs` and
//!   docs/ARCHITECTURE.md).
//!
//! Only the encoder (`albert.*`) is ever loaded: the classifier and CRF are new for every task. Tensors
//! the model has no use for (pooler, MLM/SOP heads, optimizer slots, step counters, an old task head)
//! are skipped and listed in the [`LoadReport`]; anything else unknown, missing or mis-shaped is an error.

mod tf;
mod tf_layout;

pub use tf_layout::{plan as plan_tf_load, LoadPlan, Mismatch, Target as PlanTarget, TfLayout};

use std::fmt;
use std::path::{Path, PathBuf};

use tch::{nn, Device, Tensor};

use crate::error::{ModelError, Result};
use crate::loading::Assigner;
use crate::sentence_order_head::is_sentence_order_variable;
use crate::transformer::TransformerConfig;

/// The on-disk format [`PretrainedWeights::open`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    HfSafetensors,
    HfPytorchBin,
    /// A TensorFlow checkpoint in one of the known layouts.
    Tf(TfLayout),
}

/// What a load did, for the caller to log: which variables got pretrained values and which checkpoint
/// tensors were deliberately ignored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Where the tensors came from (file, or `zip!folder/prefix`).
    pub source: String,
    /// VarStore variables written, sorted.
    pub loaded: Vec<String>,
    /// Checkpoint tensors skipped (pooler, MLM head, Adam slots, …), sorted.
    pub skipped: Vec<String>,
    /// VarStore variables left as initialised (the new classifier / CRF), sorted.
    pub fresh: Vec<String>,
    /// Notes about transformations applied (e.g. the albert_zh folding).
    pub notes: Vec<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loaded {} tensors from {}",
            self.loaded.len(),
            self.source
        )?;
        if !self.skipped.is_empty() {
            let shown: Vec<&str> = self.skipped.iter().take(8).map(String::as_str).collect();
            let more = self.skipped.len().saturating_sub(shown.len());
            write!(
                f,
                "; skipped {} unused ({}{})",
                self.skipped.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", … {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        if !self.fresh.is_empty() {
            write!(f, "; newly initialised: {}", self.fresh.join(", "))?;
        }
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// Where the vocabulary that came with the weights is.
#[derive(Clone, Debug)]
enum Vocab {
    File(PathBuf),
    /// Inside a zip: the bytes, read at open time.
    Bundled(Vec<u8>),
}

/// An opened pretrained checkpoint, before any tensor is read.
pub struct PretrainedWeights {
    format: WeightsFormat,
    path: PathBuf,
    /// The configuration of the model these weights load into (for albert_zh, after folding).
    config: TransformerConfig,
    vocab: Option<Vocab>,
    tf: Option<tf::TfCheckpoint>,
}

impl fmt::Debug for PretrainedWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PretrainedWeights")
            .field("format", &self.format)
            .field("path", &self.path)
            .finish()
    }
}

impl PretrainedWeights {
    /// Detects the format and reads the config that comes with the weights.
    ///
    /// `path`: an HF model directory (or its `model.safetensors` / `pytorch_model.bin`), or an albert_zh
    /// checkpoint directory, `.index` file, prefix or `.zip`. The config must be bundled
    /// (`config.json`; `albert_config*.json` / `bert_config*.json` for albert_zh); otherwise use
    /// [`Self::open_with_config`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_config(path, None)
    }

    /// As [`Self::open`], with `config` (a raw albert_zh config for TF checkpoints, an HF config
    /// otherwise) replacing any bundled one. HF directories hold ALBERT or BERT (`AlbertModel`,
    /// `BertModel`, their `ForMaskedLM`, `ForPreTraining` and `ForTokenClassification` forms), as
    /// `config.json`'s `model_type` says; TensorFlow checkpoints too, as their names say.
    pub fn open_with_config(
        path: impl AsRef<Path>,
        config: Option<TransformerConfig>,
    ) -> Result<Self> {
        let path = path.as_ref();
        if let Some(hf) = hf_weights_file(path) {
            let (format, file) = hf;
            if format == WeightsFormat::HfPytorchBin {
                check_zip_archive(&file)?;
            }
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let config = match config {
                Some(c) => c,
                None => TransformerConfig::from_hf_file(&dir.join("config.json"))?,
            };
            let vocab = dir.join("vocab.txt");
            return Ok(PretrainedWeights {
                format,
                path: file,
                config,
                vocab: vocab.is_file().then_some(Vocab::File(vocab)),
                tf: None,
            });
        }
        if path.is_dir() && path.join("model.safetensors.index.json").is_file() {
            return Err(ModelError::UnknownFormat {
                path: path.to_path_buf(),
                message: "sharded HF checkpoints (model.safetensors.index.json) are not supported"
                    .into(),
            });
        }
        let ckpt = tf::TfCheckpoint::open(path, config)?;
        let vocab = ckpt.vocab()?;
        Ok(PretrainedWeights {
            format: WeightsFormat::Tf(ckpt.layout()),
            path: path.to_path_buf(),
            config: ckpt.effective_config().clone(),
            vocab,
            tf: Some(ckpt),
        })
    }

    pub fn format(&self) -> WeightsFormat {
        self.format
    }

    /// The config to build the model with so that [`Self::load_into`] fits it exactly. For albert_zh
    /// it is the folded one (`embedding_size` = `hidden_size`, tanh gelu).
    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    /// The bundled `vocab.txt` when it is a file on disk (HF dirs, albert_zh directories).
    pub fn vocab_path(&self) -> Option<&Path> {
        match &self.vocab {
            Some(Vocab::File(p)) => Some(p),
            _ => None,
        }
    }

    /// The bundled vocabulary as a file: its own path when it is one, else (inside a zip) written to
    /// `dir/vocab.txt`. `None` when the weights came without a vocabulary.
    pub fn extract_vocab(&self, dir: impl AsRef<Path>) -> Result<Option<PathBuf>> {
        match &self.vocab {
            None => Ok(None),
            Some(Vocab::File(p)) => Ok(Some(p.clone())),
            Some(Vocab::Bundled(bytes)) => {
                let dir = dir.as_ref();
                std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
                let out = dir.join("vocab.txt");
                std::fs::write(&out, bytes).map_err(|e| ModelError::io(&out, e))?;
                Ok(Some(out))
            }
        }
    }

    /// Copies the encoder weights into the `albert.*` (or `bert.*`) variables of `vs` (built from
    /// [`Self::config`]); every one of them must be written. Other variables (classifier, CRF, a
    /// BiLSTM) are left as initialised.
    pub fn load_into(&self, vs: &mut nn::VarStore) -> Result<LoadReport> {
        if let Some(tf) = &self.tf {
            return tf.load_into(vs);
        }
        let mut tensors = match self.format {
            WeightsFormat::HfSafetensors => Tensor::read_safetensors(&self.path),
            _ => Tensor::loadz_multi_with_device(&self.path, Device::Cpu),
        }
        .map_err(|e| ModelError::Torch {
            file: self.path.clone(),
            source: e,
        })?;
        // Name order, so that the first error reported is the same on every run.
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut report = LoadReport {
            source: self.path.display().to_string(),
            ..Default::default()
        };
        let prefix = format!("{}.", self.config.view().prefix());
        let mut assigner = Assigner::new(vs, &self.path, |n| is_encoder_variable(n, &prefix));
        let mut mlm_head = HeadAssigner::mlm(vs, &self.path, &prefix);
        let mut order_head = HeadAssigner::sentence_order(vs, &self.path);
        let target_of = |name: &str| {
            if name.starts_with(&prefix) || is_sentence_order_variable(name) {
                name.to_string()
            } else {
                format!("{prefix}{name}")
            }
        };
        let targets: Vec<String> = tensors.iter().map(|(n, _)| target_of(n)).collect();
        let whole_head = mlm_head.covered_by(tensors.iter().map(|(n, _)| n.as_str()));
        let whole_order_head = order_head.covered_by(targets.iter().map(String::as_str));
        for ((name, t), target) in tensors.iter().zip(targets) {
            if whole_head && mlm_head.wants(name) {
                mlm_head.assign(name, name, t)?;
                continue;
            }
            if whole_order_head && order_head.wants(&target) {
                order_head.assign(&target, name, t)?;
                continue;
            }
            if hf_unused(&target) || is_head(name) {
                report.skipped.push(name.clone());
                continue;
            }
            assigner.assign(&target, t)?;
        }
        report.loaded = assigner.finish()?;
        mlm_head.report_into(&mut report);
        order_head.report_into(&mut report);
        report.skipped.sort();
        report.fresh = fresh_variables(vs, &report.loaded);
        Ok(report)
    }
}

/// Whether `name` (a VarStore's) is one of the encoder's variables, which every load must write: under
/// the encoder's prefix, ALBERT's pooler excepted (a sentence-order head's, loaded with it).
pub(crate) fn is_encoder_variable(name: &str, prefix: &str) -> bool {
    name.starts_with(prefix) && !is_sentence_order_variable(name)
}

/// Loads a pre-training head of a masked LM from the checkpoint tensors of its names, all of them or
/// none (a part of a head would leave the rest new under weights it was not trained with); a tagger
/// has no such variable, so for it nothing loads here.
pub(crate) struct HeadAssigner<'a> {
    assigner: Assigner<'a>,
    /// What the report's note calls it.
    what: &'static str,
    /// Checkpoint names of what was loaded.
    sources: Vec<String>,
    loaded: Vec<String>,
}

impl<'a> HeadAssigner<'a> {
    /// The MLM head: the variables of `vs` outside the encoder's prefix, a task head's and the
    /// sentence-order head's excepted.
    pub(crate) fn mlm(vs: &nn::VarStore, file: &Path, encoder_prefix: &'a str) -> Self {
        Self::new(vs, file, "MLM head", move |n| {
            !n.starts_with(encoder_prefix) && !is_head(n) && !is_sentence_order_variable(n)
        })
    }

    /// ALBERT's sentence-order head: `albert.pooler.*` and `sop_classifier.*`.
    pub(crate) fn sentence_order(vs: &nn::VarStore, file: &Path) -> Self {
        Self::new(vs, file, "sentence-order head", is_sentence_order_variable)
    }

    fn new(
        vs: &nn::VarStore,
        file: &Path,
        what: &'static str,
        selects: impl Fn(&str) -> bool + 'a,
    ) -> Self {
        HeadAssigner {
            assigner: Assigner::new(vs, file, selects),
            what,
            sources: Vec::new(),
            loaded: Vec::new(),
        }
    }

    /// Whether `names` (a checkpoint's) hold every head variable; false when there is no head.
    pub(crate) fn covered_by<'n>(&self, names: impl Iterator<Item = &'n str>) -> bool {
        let names: std::collections::HashSet<&str> = names.collect();
        let expected = self.assigner.expected_names();
        !expected.is_empty() && expected.iter().all(|n| names.contains(n))
    }

    /// Whether `name` is a head variable of the VarStore.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.assigner.expected_shape(name).is_some()
    }

    /// `value` (checkpoint tensor `source`) into head variable `name`, shape-checked.
    pub(crate) fn assign(&mut self, name: &str, source: &str, value: &Tensor) -> Result<()> {
        self.assigner.assign(name, value)?;
        self.sources.push(source.to_string());
        self.loaded.push(name.to_string());
        Ok(())
    }

    /// Moves what loaded from the report's skipped list to its loaded one, with a note.
    pub(crate) fn report_into(self, report: &mut LoadReport) {
        if self.loaded.is_empty() {
            return;
        }
        report.skipped.retain(|n| !self.sources.contains(n));
        report.notes.push(format!(
            "{} continued from the checkpoint's ({})",
            self.what,
            self.sources.join(", ")
        ));
        report.loaded.extend(self.loaded);
        report.loaded.sort();
    }
}

/// Variables of `vs` not in `loaded` (sorted input), sorted.
fn fresh_variables(vs: &nn::VarStore, loaded: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vs
        .variables()
        .into_keys()
        .filter(|n| loaded.binary_search(n).is_err())
        .collect();
    out.sort();
    out
}

/// `(format, file)` when `path` is an HF model directory or one of its weight files.
fn hf_weights_file(path: &Path) -> Option<(WeightsFormat, PathBuf)> {
    let pick = |f: PathBuf| match f.file_name().and_then(|n| n.to_str()) {
        Some(n) if n.ends_with(".safetensors") && f.is_file() => {
            Some((WeightsFormat::HfSafetensors, f))
        }
        Some(n) if n.ends_with(".bin") && f.is_file() => Some((WeightsFormat::HfPytorchBin, f)),
        _ => None,
    };
    if path.is_dir() {
        if !path.join("config.json").is_file() {
            return None;
        }
        pick(path.join("model.safetensors")).or_else(|| pick(path.join("pytorch_model.bin")))
    } else {
        pick(path.to_path_buf())
    }
}

/// libtorch reads only torch.save's zip archives (torch >= 1.6); older pickle-format files would fail
/// deep in libtorch with an unhelpful message, so tell the user what to do instead.
fn check_zip_archive(file: &Path) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(file).map_err(|e| ModelError::io(file, e))?;
    let n = f.read(&mut magic).map_err(|e| ModelError::io(file, e))?;
    if n == 4 && magic == *b"PK\x03\x04" {
        return Ok(());
    }
    Err(ModelError::UnknownFormat {
        path: file.to_path_buf(),
        message: "not a torch.save zip archive: legacy (torch < 1.6) pickle files cannot be read; \
                  convert it to model.safetensors (or re-save it with a current torch)"
            .into(),
    })
}

/// Task layers (head, BiLSTM) of some earlier fine-tuning: never loaded into a new tagger.
fn is_head(name: &str) -> bool {
    name.starts_with("classifier.") || name.starts_with("crf.") || name.starts_with("lstm.")
}

/// HF state-dict entries (after adding the `albert.` or `bert.` prefix) that the tagger has no
/// variable for: poolers, pre-training heads (ALBERT's `predictions.*`, BERT's `cls.*`), buffers.
pub(crate) fn hf_unused(target: &str) -> bool {
    let rest = ["albert.", "bert."]
        .iter()
        .find_map(|p| target.strip_prefix(p))
        .unwrap_or(target);
    rest.starts_with("pooler.")
        || rest.starts_with("predictions.")
        || rest.starts_with("cls.")
        || rest.starts_with("sop_classifier.")
        || rest.starts_with("qa_outputs.")
        || rest == "embeddings.position_ids"
        || rest == "embeddings.token_type_ids"
}
