//! The model directory, the one place that knows what a trained model is on disk: `train` writes
//! through it, `predict`, `serve` and the trainer's test scoring read through it, and nothing else
//! names its files.
//!
//! ```text
//! model.safetensors  config.json  vocab.txt   the tagger, in HF layout (albert-model's save format),
//!                                              or after `task=pretrain` the pre-trained masked LM
//! hyperparameters.json                         the job's resolved settings; ModelSettings come from it
//! metrics.json                                 what the job measured
//! ```

use std::path::{Path, PathBuf};

use albert_model::{EncoderSpec, MaskedLm, NerTagger, TaggerSpec};
use ner_settings::ModelSettings;
use serde_json::{Map, Value};
use tch::{nn, Device};

use crate::error::InferError;

/// A directory that holds (or will hold) a trained model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    path: PathBuf,
}

impl ModelDir {
    /// The files of the tagger itself: all that loading needs.
    pub const TAGGER_FILES: [&'static str; 3] = albert_model::MODEL_FILES;
    /// The training job's resolved hyperparameters, from which [`ModelSettings`] are read back.
    pub const HYPERPARAMETERS_FILE: &'static str = "hyperparameters.json";
    /// What the training job measured (steps, validation history, test scores).
    pub const METRICS_FILE: &'static str = "metrics.json";

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `config.json`: the encoder, labels and head (named in errors about them).
    pub fn config_path(&self) -> PathBuf {
        self.path.join(albert_model::CONFIG_FILE)
    }

    /// `vocab.txt`: the tokenizer's vocabulary (copied beside an export made elsewhere).
    pub fn vocab_path(&self) -> PathBuf {
        self.path.join(albert_model::VOCAB_FILE)
    }

    /// `hyperparameters.json`: named in errors about the saved settings.
    pub fn settings_path(&self) -> PathBuf {
        self.path.join(Self::HYPERPARAMETERS_FILE)
    }

    /// Whether every file of the tagger is there (a job never ends successfully without them).
    pub fn holds_model(&self) -> bool {
        Self::TAGGER_FILES
            .iter()
            .all(|f| self.path.join(f).is_file())
    }

    /// Writes the tagger's files (each under a temporary name, then renamed); `vocab` is copied in.
    pub fn write_tagger(
        &self,
        vs: &nn::VarStore,
        spec: &TaggerSpec,
        vocab: &Path,
    ) -> Result<(), InferError> {
        Ok(albert_model::save_model(&self.path, vs, spec, vocab)?)
    }

    /// Writes a pre-trained masked LM's files (HF's `*ForMaskedLM` or `AlbertForPreTraining`:
    /// pretrained weights for a later job, not a tagger); `vocab` is copied in.
    pub fn write_masked_lm(
        &self,
        vs: &nn::VarStore,
        mlm: &MaskedLm,
        vocab: &Path,
    ) -> Result<(), InferError> {
        Ok(albert_model::save_masked_lm(&self.path, vs, mlm, vocab)?)
    }

    /// Writes the job's record beside the tagger: its resolved hyperparameters (the settings tagging
    /// reads back) and its metrics.
    pub fn write_job_record(
        &self,
        hyperparameters: &Value,
        metrics: &Value,
    ) -> Result<(), InferError> {
        write_json(&self.path.join(Self::METRICS_FILE), metrics)?;
        write_json(&self.settings_path(), hyperparameters)
    }

    /// The encoder `config.json` describes, without touching the weights (so a caller can check that
    /// the model fits in memory first).
    pub fn read_encoder(&self) -> Result<EncoderSpec, InferError> {
        Ok(albert_model::read_encoder_spec(&self.path)?)
    }

    /// The tagger on `device`: its variables, the tagger over them, its spec and the vocabulary path.
    pub fn read_tagger(
        &self,
        device: Device,
    ) -> Result<(nn::VarStore, NerTagger, TaggerSpec, PathBuf), InferError> {
        Ok(albert_model::load_model(&self.path, device)?)
    }

    /// The settings the model was trained with; their defaults where the file or a key is absent (a
    /// model exported by HF has no such file). A malformed value is refused naming file and key.
    pub fn read_settings(&self) -> Result<ModelSettings, InferError> {
        let path = self.settings_path();
        let mut settings = ModelSettings::default();
        let Ok(text) = std::fs::read(&path) else {
            return Ok(settings);
        };
        let bad = |message: String| InferError::Settings {
            path: path.clone(),
            message,
        };
        let map: Map<String, Value> =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let number = |key: &str, into: &mut usize| -> Result<(), InferError> {
            if let Some(v) = map.get(key) {
                *into = v
                    .as_u64()
                    .ok_or_else(|| bad(format!("{key} is {v}, not a whole number")))?
                    as usize;
            }
            Ok(())
        };
        let flag = |key: &str, into: &mut bool| -> Result<(), InferError> {
            if let Some(v) = map.get(key) {
                *into = v
                    .as_bool()
                    .ok_or_else(|| bad(format!("{key} is {v}, not true or false")))?;
            }
            Ok(())
        };
        number("max_seq_length", &mut settings.max_seq_length)?;
        number("window_stride", &mut settings.window_stride)?;
        flag("do_lower_case", &mut settings.do_lower_case)?;
        flag("bio_constraints", &mut settings.bio_constraints)?;
        Ok(settings)
    }
}

/// Pretty JSON under a temporary name, then renamed: a job killed mid-write never leaves a truncated
/// file.
fn write_json(path: &Path, value: &Value) -> Result<(), InferError> {
    let io = |path: &Path, source: std::io::Error| InferError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("a file in the model directory");
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    albert_model::write_bytes_atomically(path, &bytes).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_default_without_a_file_and_are_read_back_from_the_job_record() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path().join("model"));
        assert_eq!(dir.read_settings().unwrap(), ModelSettings::default());
        let record = json!({"max_seq_length": 64, "window_stride": 8, "do_lower_case": false,
                            "bio_constraints": false, "learning_rate": 0.1});
        dir.write_job_record(&record, &json!({"global_step": 3}))
            .unwrap();
        let read = dir.read_settings().unwrap();
        assert_eq!(
            read,
            ModelSettings {
                max_seq_length: 64,
                window_stride: 8,
                do_lower_case: false,
                bio_constraints: false
            }
        );
        let metrics: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(metrics["global_step"], 3);
        assert!(!dir.holds_model(), "no tagger written yet");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn holds_a_model_only_with_every_tagger_file_as_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path());
        let [first, second, third] = ModelDir::TAGGER_FILES;
        std::fs::write(tmp.path().join(first), b"x").unwrap();
        std::fs::write(tmp.path().join(second), b"x").unwrap();
        assert!(!dir.holds_model(), "two of three");
        std::fs::create_dir(tmp.path().join(third)).unwrap();
        assert!(!dir.holds_model(), "a directory is not the file");
        std::fs::remove_dir(tmp.path().join(third)).unwrap();
        std::fs::write(tmp.path().join(third), b"x").unwrap();
        assert!(dir.holds_model());
    }

    #[test]
    fn a_record_that_cannot_be_written_names_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let dir = ModelDir::new(file.join("model"));
        let err = dir
            .write_job_record(&json!({}), &json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&*file.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_malformed_setting_is_refused_naming_file_and_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path());
        std::fs::write(dir.settings_path(), r#"{"window_stride": "wide"}"#).unwrap();
        let err = dir.read_settings().unwrap_err().to_string();
        assert!(err.contains("hyperparameters.json"), "{err}");
        assert!(err.contains("window_stride is \"wide\""), "{err}");
        std::fs::write(dir.settings_path(), "[1]").unwrap();
        let err = dir.read_settings().unwrap_err().to_string();
        assert!(
            err.contains("hyperparameters.json") && err.contains("not a JSON object"),
            "{err}"
        );
    }
}
