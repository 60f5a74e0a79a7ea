//! Where everything lives inside the container. The base is `/opt/ml` on SageMaker and
//! `$SAGEMAKER_BASE_DIR` for local runs and tests, so the same binary runs in both.

use std::path::{Path, PathBuf};

use crate::configs::{CheckpointConfig, InputDataConfig, ResourceConfig};
use crate::json_file::read_optional;
use crate::ContractError;

/// The fixed SageMaker base directory.
pub const DEFAULT_BASE_DIR: &str = "/opt/ml";

/// Environment variable that moves the base directory (local runs, tests).
pub const BASE_DIR_ENV: &str = "SAGEMAKER_BASE_DIR";

/// Every path of the `/opt/ml` contract. Nothing here writes under `input/`: channels may be
/// read-only mounts (FastFile mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SageMakerPaths {
    pub base: PathBuf,
    pub hyperparameters_file: PathBuf,
    pub input_data_config_file: PathBuf,
    pub resource_config_file: PathBuf,
    pub checkpoint_config_file: PathBuf,
    /// `input/data`: one subdirectory per channel.
    pub input_data_dir: PathBuf,
    /// `model/`: uploaded as `model.tar.gz` when the job succeeds.
    pub model_dir: PathBuf,
    /// `output/data/`: uploaded as `output.tar.gz` (metrics, predictions).
    pub output_data_dir: PathBuf,
    /// `output/tensorboard/`: synced by SageMaker when a TensorBoard output config is set.
    pub tensorboard_dir: PathBuf,
    /// `output/failure`: its text becomes the job's `FailureReason`.
    pub failure_file: PathBuf,
    /// `checkpoints/` or checkpointconfig.json's `LocalPath`: synced with S3 for resumption.
    pub checkpoint_dir: PathBuf,
}

impl SageMakerPaths {
    /// Base from `$SAGEMAKER_BASE_DIR` (when set and non-empty), else `/opt/ml`. Fails only when
    /// checkpointconfig.json exists and is malformed.
    pub fn from_env() -> Result<Self, ContractError> {
        let base = std::env::var_os(BASE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BASE_DIR));
        Self::from_base(base)
    }

    /// The layout under an explicit base directory.
    pub fn from_base(base: impl Into<PathBuf>) -> Result<Self, ContractError> {
        let base = base.into();
        let config = base.join("input/config");
        let mut paths = Self {
            hyperparameters_file: config.join("hyperparameters.json"),
            input_data_config_file: config.join("inputdataconfig.json"),
            resource_config_file: config.join("resourceconfig.json"),
            checkpoint_config_file: config.join("checkpointconfig.json"),
            input_data_dir: base.join("input/data"),
            model_dir: base.join("model"),
            output_data_dir: base.join("output/data"),
            tensorboard_dir: base.join("output/tensorboard"),
            failure_file: base.join("output/failure"),
            checkpoint_dir: base.join("checkpoints"),
            base,
        };
        if let Some(local) = paths.checkpoint_config()?.and_then(|c| c.local_path) {
            paths.checkpoint_dir = paths.rebase(&local);
        }
        Ok(paths)
    }

    /// `input/data/<channel>`, whether or not it exists.
    pub fn channel_dir(&self, channel: &str) -> PathBuf {
        self.input_data_dir.join(channel)
    }

    /// Maps a path written for the real container (`/opt/ml/...`, as in hyperparameters copied from
    /// a SageMaker notebook) onto this base, so local runs with `SAGEMAKER_BASE_DIR` see the same
    /// files. Other paths are returned unchanged.
    pub fn rebase(&self, path: &Path) -> PathBuf {
        if self.base == Path::new(DEFAULT_BASE_DIR) {
            return path.to_path_buf();
        }
        match path.strip_prefix(DEFAULT_BASE_DIR) {
            Ok(rest) => self.base.join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Creates the directories the job writes to (model, output data, TensorBoard, checkpoints);
    /// never anything under `input/`.
    pub fn create_output_dirs(&self) -> Result<(), ContractError> {
        for dir in self.output_dirs() {
            std::fs::create_dir_all(dir).map_err(|e| ContractError::io("creating", dir, e))?;
        }
        Ok(())
    }

    /// Proves now, before any training, that the job can write where it must: a read-only or
    /// full `model/` found after hours of training loses the work. Each directory gets a small
    /// probe file, written, synced and removed.
    pub fn check_writable(&self) -> Result<(), ContractError> {
        use std::io::Write;
        for dir in self.output_dirs() {
            // Named like a half-written file of both conventions (`.tmp-*` in checkpoints/,
            // `.*.tmp` elsewhere), so a probe left by a killed run is cleaned up next start and
            // never read as data.
            let probe = dir.join(format!(".tmp-write-probe-{}.tmp", std::process::id()));
            let written = std::fs::File::create(&probe)
                .and_then(|mut f| f.write_all(&[0; 4096]).and_then(|()| f.sync_all()));
            let _ = std::fs::remove_file(&probe);
            written.map_err(|e| ContractError::io("cannot write to", dir, e))?;
        }
        Ok(())
    }

    /// Removes `.NAME.tmp` files (what every atomic write here leaves when killed before its
    /// rename) from `model/` and `output/data/`, so a crashed run's leftovers are not uploaded.
    /// Returns what was removed.
    pub fn remove_partial_files(&self) -> Result<Vec<PathBuf>, ContractError> {
        let mut removed = Vec::new();
        for dir in [&self.model_dir, &self.output_data_dir] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let partial = name.starts_with('.') && name.ends_with(".tmp");
                if partial && entry.file_type().is_ok_and(|t| t.is_file()) {
                    let path = entry.path();
                    std::fs::remove_file(&path)
                        .map_err(|e| ContractError::io("removing", &path, e))?;
                    removed.push(path);
                }
            }
        }
        Ok(removed)
    }

    fn output_dirs(&self) -> [&PathBuf; 4] {
        [
            &self.model_dir,
            &self.output_data_dir,
            &self.tensorboard_dir,
            &self.checkpoint_dir,
        ]
    }

    /// resourceconfig.json, absent outside SageMaker.
    pub fn resource_config(&self) -> Result<Option<ResourceConfig>, ContractError> {
        read_optional(&self.resource_config_file)
    }

    /// inputdataconfig.json, absent outside SageMaker.
    pub fn input_data_config(&self) -> Result<Option<InputDataConfig>, ContractError> {
        read_optional(&self.input_data_config_file)
    }

    /// checkpointconfig.json, present only when the job was given a checkpoint S3 URI.
    pub fn checkpoint_config(&self) -> Result<Option<CheckpointConfig>, ContractError> {
        read_optional(&self.checkpoint_config_file)
    }
}
