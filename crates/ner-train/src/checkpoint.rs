//! Resumable training checkpoints for spot instances and `StopTrainingJob`.
//!
//! Layout: `DIR/step-000001200/{model.safetensors, optimizer.safetensors, state.json}`. A checkpoint is
//! written into a hidden temporary directory and renamed into place, so a reader never sees half of one;
//! the last `keep` complete checkpoints are kept. On start the newest loadable one wins and any that fail
//! to load are skipped with a warning (SageMaker may sync a partial upload back from S3).
//!
//! `DIR/best-model/` holds a copy of the best model by validation F1 (the model files plus
//! `best.json`). SageMaker restores the checkpoint directory on a new spot instance but not
//! `/opt/ml/model`, so without this copy a best model older than the newest checkpoint would be lost.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Tensor;
use tracing::{info, warn};

use ner_infer::ModelDir;

use crate::adamw::AdamW;
use crate::error::TrainError;

const PREFIX: &str = "step-";
/// Prefix of a checkpoint being written; a leftover one is a crashed write.
const TMP_PREFIX: &str = ".tmp-";
/// The best model's copy, beside the step checkpoints.
pub const BEST_DIR: &str = "best-model";
const BEST_META: &str = "best.json";

/// Where training stands, enough to continue exactly where it stopped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Optimiser updates done.
    pub global_step: usize,
    /// 0-based epoch in progress and the number of its batches already consumed.
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub best_f1: Option<f64>,
    pub best_step: Option<usize>,
    pub evals_without_improvement: usize,
    /// fp16 dynamic loss scale (1.0 when unused).
    pub loss_scale: f64,
    /// Validation results so far, one JSON object per evaluation.
    pub history: Vec<serde_json::Value>,
    /// An evaluation of these weights was interrupted by SIGTERM; a resumed run does it first.
    #[serde(default)]
    pub pending_eval: bool,
    /// Seconds spent in training and validation so far, for `max_train_seconds` across restarts.
    #[serde(default)]
    pub train_seconds: f64,
    /// Replicas that trained it (0 in checkpoints older than data parallelism: one). `batch_in_epoch`
    /// counts global batches of that many replicas.
    #[serde(default)]
    pub world_size: usize,
}

impl Progress {
    /// Where a run without a checkpoint starts (fp16's loss scale at its usual first value).
    pub fn fresh() -> Self {
        Progress {
            loss_scale: 65536.0,
            ..Progress::default()
        }
    }

    /// 0-based epoch in which the last optimiser step fell: at an epoch's end `epoch` already
    /// counts the next one.
    pub fn epoch_of_last_step(&self) -> usize {
        match self.batch_in_epoch {
            0 => self.epoch.saturating_sub(1),
            _ => self.epoch,
        }
    }
}

/// Writes a checkpoint for `progress` atomically and prunes old ones.
pub fn save(
    dir: &Path,
    vs: &VarStore,
    opt: &AdamW,
    progress: &Progress,
    keep: usize,
) -> Result<PathBuf, TrainError> {
    fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let name = format!("{PREFIX}{:09}", progress.global_step);
    let dest = dir.join(&name);
    fill_and_rename(
        &dir.join(format!("{TMP_PREFIX}{name}-{}", std::process::id())),
        &dest,
        |tmp| {
            let model = tmp.join("model.safetensors");
            let variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            albert_model::write_safetensors(&variables, &model)
                .map_err(|e| TrainError::io(&model, e))?;
            opt.save(&tmp.join("optimizer.safetensors"))?;
            let state = tmp.join("state.json");
            let json = serde_json::to_vec_pretty(progress).expect("Progress serialises");
            fs::write(&state, json).map_err(|e| TrainError::io(&state, e))?;
            sync_files(
                tmp,
                &["model.safetensors", "optimizer.safetensors", "state.json"],
            )
        },
    )?;
    prune(dir, keep.max(1))?;
    Ok(dest)
}

/// Writes a directory whole or not at all: `fill` writes into `tmp`, which then replaces `dest`; when
/// anything fails, `tmp` is removed (a full disk must not stay full of a half-written checkpoint).
fn fill_and_rename(
    tmp: &Path,
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let _ = fs::remove_dir_all(tmp);
    let written = fs::create_dir_all(tmp)
        .map_err(|e| TrainError::io(tmp, e))
        .and_then(|()| fill(tmp))
        .and_then(|()| match dest.exists() {
            true => fs::remove_dir_all(dest).map_err(|e| TrainError::io(dest, e)),
            false => Ok(()),
        })
        .and_then(|()| fs::rename(tmp, dest).map_err(|e| TrainError::io(dest, e)));
    if written.is_err() {
        let _ = fs::remove_dir_all(tmp);
    }
    written
}

/// Complete checkpoints in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix(PREFIX)?.parse().ok()?;
            e.path().is_dir().then(|| (step, e.path()))
        })
        .collect();
    found.sort_by_key(|(step, _)| std::cmp::Reverse(*step));
    found.into_iter().map(|(_, p)| p).collect()
}

fn prune(dir: &Path, keep: usize) -> Result<(), TrainError> {
    for old in list(dir).into_iter().skip(keep) {
        fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
    }
    Ok(())
}

/// What a starting run resumes from: what a crashed run left half-written in `dir` removed, then the
/// newest checkpoint that loads cleanly (each that does not logged and left in place), if any.
pub fn resume_newest(
    dir: &Path,
    vs: &mut VarStore,
    opt: &mut AdamW,
) -> Result<Option<(Progress, PathBuf)>, TrainError> {
    for partial in remove_partial(dir)? {
        info!("removed a half-written checkpoint: {}", partial.display());
    }
    let skip = |p: &Path, e: &TrainError| warn!("skipping checkpoint {}: {e}", p.display());
    Ok(resume_latest(dir, vs, opt, skip))
}

/// Loads the newest checkpoint that loads cleanly into `vs` and `opt`; returns its progress and path.
/// Checkpoints that fail are reported through `on_skip` and left in place.
pub fn resume_latest(
    dir: &Path,
    vs: &mut VarStore,
    opt: &mut AdamW,
    mut on_skip: impl FnMut(&Path, &TrainError),
) -> Option<(Progress, PathBuf)> {
    for ckpt in list(dir) {
        match load(&ckpt, vs, opt) {
            Ok(p) => return Some((p, ckpt)),
            Err(e) => on_skip(&ckpt, &e),
        }
    }
    None
}

fn load(ckpt: &Path, vs: &mut VarStore, opt: &mut AdamW) -> Result<Progress, TrainError> {
    let state = ckpt.join("state.json");
    let text = fs::read(&state).map_err(|e| TrainError::io(&state, e))?;
    let progress: Progress = serde_json::from_slice(&text)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", state.display())))?;
    let model = ckpt.join("model.safetensors");
    // Load into a copy first so a corrupt file cannot leave the live model half-overwritten.
    let backup: Vec<(String, tch::Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    if let Err(e) = vs.load(&model) {
        restore(vs, &backup);
        return Err(TrainError::io_tch(&model, e));
    }
    if let Err(e) = opt.load(&ckpt.join("optimizer.safetensors")) {
        restore(vs, &backup);
        return Err(e);
    }
    Ok(progress)
}

/// Removes what a crashed run left half-written in `dir` (temporary checkpoint folders), so that
/// they are neither mistaken for data nor synced to S3. Returns what was removed.
pub fn remove_partial(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let path = entry.path();
            let gone = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            gone.map_err(|e| TrainError::io(&path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// What `best.json` records of the kept best model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct BestMeta {
    step: usize,
    entity_f1: f64,
}

/// Copies the model just saved in `model_dir` (the best so far, at `step`) into `dir/best-model`,
/// replacing the previous best by a rename.
pub fn save_best(
    dir: &Path,
    model_dir: &ModelDir,
    step: usize,
    entity_f1: f64,
) -> Result<PathBuf, TrainError> {
    let tmp = dir.join(format!("{TMP_PREFIX}{BEST_DIR}-{}", std::process::id()));
    let dest = dir.join(BEST_DIR);
    fill_and_rename(&tmp, &dest, |tmp| {
        for f in ModelDir::TAGGER_FILES {
            let (from, to) = (model_dir.path().join(f), tmp.join(f));
            fs::copy(&from, &to).map_err(|e| TrainError::io(&to, e))?;
        }
        let meta = tmp.join(BEST_META);
        let json =
            serde_json::to_vec_pretty(&BestMeta { step, entity_f1 }).expect("meta serialises");
        fs::write(&meta, json).map_err(|e| TrainError::io(&meta, e))?;
        sync_files(tmp, &ModelDir::TAGGER_FILES)?;
        sync_files(tmp, &[BEST_META])
    })?;
    Ok(dest)
}

/// The step of the complete best-model copy in `dir`, if there is one.
pub fn best_step(dir: &Path) -> Option<usize> {
    let best = dir.join(BEST_DIR);
    let meta: BestMeta = serde_json::from_slice(&fs::read(best.join(BEST_META)).ok()?).ok()?;
    ModelDir::new(best).holds_model().then_some(meta.step)
}

/// Flushes `files` in `dir` to disk before the directory is renamed into place.
fn sync_files(dir: &Path, files: &[&str]) -> Result<(), TrainError> {
    for f in files {
        let p = dir.join(f);
        fs::File::open(&p)
            .and_then(|f| f.sync_all())
            .map_err(|e| TrainError::io(&p, e))?;
    }
    Ok(())
}

/// What [`recover_best`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BestRecovery {
    /// No best model yet: nothing to recover.
    NoneYet,
    /// `dir/best-model` was copied into the model directory.
    Restored { step: usize },
    /// No copy of the best step, but the model directory already holds a model (a restart on the
    /// same machine, from checkpoints of a version that kept no copy): kept as it is.
    KeptInPlace { step: usize },
    /// The best model is nowhere: the best score is forgotten, so the next evaluation's model is
    /// saved and the job still ends with one.
    Lost { step: usize },
}

/// After a resume: puts the best model that `progress` names back into `model_dir`, which starts
/// empty on a new instance. When it cannot be found, `progress` forgets it.
pub fn recover_best(
    dir: &Path,
    model_dir: &ModelDir,
    progress: &mut Progress,
) -> Result<BestRecovery, TrainError> {
    let Some(step) = progress.best_step else {
        return Ok(BestRecovery::NoneYet);
    };
    if best_step(dir) == Some(step) {
        let model_path = model_dir.path();
        fs::create_dir_all(model_path).map_err(|e| TrainError::io(model_path, e))?;
        let best = dir.join(BEST_DIR);
        for f in ModelDir::TAGGER_FILES {
            let (from, to) = (best.join(f), model_path.join(f));
            albert_model::write_atomically(&to, |tmp| fs::copy(&from, tmp).map(drop))
                .map_err(|e| TrainError::io(&to, e))?;
        }
        return Ok(BestRecovery::Restored { step });
    }
    if model_dir.holds_model() {
        return Ok(BestRecovery::KeptInPlace { step });
    }
    progress.best_f1 = None;
    progress.best_step = None;
    progress.evals_without_improvement = 0;
    Ok(BestRecovery::Lost { step })
}

fn restore(vs: &mut VarStore, backup: &[(String, tch::Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, saved) in backup {
            if let Some(v) = vars.get(name) {
                let mut v = v.shallow_clone();
                v.copy_(saved);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn the_last_step_of_an_epoch_belongs_to_it_not_to_the_next() {
        let at = |epoch, batch_in_epoch| Progress {
            epoch,
            batch_in_epoch,
            ..Progress::default()
        };
        assert_eq!(at(0, 3).epoch_of_last_step(), 0, "mid-epoch");
        assert_eq!(at(2, 0).epoch_of_last_step(), 1, "epoch 1 just ended");
        assert_eq!(at(0, 0).epoch_of_last_step(), 0, "nothing done yet");
    }
}
