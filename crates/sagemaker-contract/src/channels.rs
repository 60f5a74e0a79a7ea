//! Which files are training, validation and test data, and where pretrained weights and character
//! vectors are.
//!
//! Two layouts are understood. The replaced system put `train.txt`, `dev.txt` and `test.txt` in the
//! one `training` channel, so files at the top of the training directory named `train.*`,
//! `dev.*` / `valid.*` / `val.*` and `test.*` are those splits (with no `train.*`, training is every
//! other file), unless separate `validation` / `test` channels exist, which then win. Otherwise
//! every channel's data is all its regular, non-hidden files, sorted, found recursively.

use std::path::{Path, PathBuf};

use crate::{ContractError, SageMakerPaths};

/// Channel names this container reads.
pub const TRAINING_CHANNEL: &str = "training";
pub const VALIDATION_CHANNEL: &str = "validation";
pub const TEST_CHANNEL: &str = "test";
pub const PRETRAINED_CHANNEL: &str = "pretrained";
pub const EMBEDDINGS_CHANNEL: &str = "embeddings";

/// The resolved data files of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataChannels {
    pub train: Vec<PathBuf>,
    /// `None` when there is no validation data (the trainer then splits some off `train`).
    pub validation: Option<Vec<PathBuf>>,
    pub test: Option<Vec<PathBuf>>,
    /// A directory of weights, or a single zip, from the `pretrained` channel.
    pub pretrained: Option<PathBuf>,
    /// The one word2vec text file of the `embeddings` channel (pretrained character vectors).
    pub embeddings: Option<PathBuf>,
}

impl DataChannels {
    /// Resolves the channels under `paths`. `data_dir` (the `data_dir` hyperparameter) replaces the
    /// training channel when given; `/opt/ml/...` in it is mapped onto the base directory.
    pub fn resolve(paths: &SageMakerPaths, data_dir: Option<&Path>) -> Result<Self, ContractError> {
        refuse_pipe_mode(paths)?;

        let train_dir = match data_dir {
            Some(dir) => paths.rebase(dir),
            None => paths.channel_dir(TRAINING_CHANNEL),
        };
        if !train_dir.is_dir() {
            return Err(ContractError::NoTrainingData { dir: train_dir });
        }
        let validation_dir = existing_dir(paths.channel_dir(VALIDATION_CHANNEL));
        let test_dir = existing_dir(paths.channel_dir(TEST_CHANNEL));

        let mut channels = DataChannels::default();
        match named_splits(&train_dir)? {
            Some(splits) => {
                channels.train = splits.train;
                channels.validation = non_empty(splits.validation);
                channels.test = non_empty(splits.test);
            }
            None => channels.train = data_files(&train_dir)?,
        }
        if channels.train.is_empty() {
            return Err(ContractError::NoTrainingData { dir: train_dir });
        }
        if let Some(dir) = validation_dir {
            channels.validation = Some(channel_files(VALIDATION_CHANNEL, &dir)?);
        }
        if let Some(dir) = test_dir {
            channels.test = Some(channel_files(TEST_CHANNEL, &dir)?);
        }
        if let Some(dir) = existing_dir(paths.channel_dir(PRETRAINED_CHANNEL)) {
            channels.pretrained = Some(pretrained_location(&dir)?);
        }
        if let Some(dir) = existing_dir(paths.channel_dir(EMBEDDINGS_CHANNEL)) {
            channels.embeddings = Some(one_file(&dir)?);
        }
        Ok(channels)
    }
}

/// Refuses Pipe mode, from inputdataconfig.json or from the `<channel>_<n>` FIFOs SageMaker creates.
pub fn refuse_pipe_mode(paths: &SageMakerPaths) -> Result<(), ContractError> {
    if let Some(config) = paths.input_data_config()? {
        if let Some(channel) = config.pipe_channel() {
            return Err(ContractError::PipeMode {
                channel: channel.to_string(),
            });
        }
    }
    let Ok(entries) = std::fs::read_dir(&paths.input_data_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let is_fifo = entry.file_type().is_ok_and(|t| {
            use std::os::unix::fs::FileTypeExt;
            t.is_fifo()
        });
        if is_fifo {
            let name = entry.file_name().to_string_lossy().into_owned();
            let channel = name
                .rsplit_once('_')
                .map_or(name.as_str(), |(c, _)| c)
                .to_string();
            return Err(ContractError::PipeMode { channel });
        }
    }
    Ok(())
}

struct NamedSplits {
    train: Vec<PathBuf>,
    validation: Vec<PathBuf>,
    test: Vec<PathBuf>,
}

/// The `train.*` / `dev.*` / `test.*` layout, if the directory's top level uses it. Without a
/// `train.*` file but with `dev.*` or `test.*` files, training is every other file: evaluation
/// data must never leak into training just because its sibling was named differently.
fn named_splits(dir: &Path) -> Result<Option<NamedSplits>, ContractError> {
    let mut splits = NamedSplits {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let Some((stem, _)) = name.split_once('.') else {
            continue;
        };
        let (split, list) = match stem {
            "train" => ("training", &mut splits.train),
            "dev" | "valid" | "val" | "validation" => ("validation", &mut splits.validation),
            "test" => ("test", &mut splits.test),
            _ => continue,
        };
        if path.is_dir() {
            return Err(ContractError::SplitIsDirectory { path, split });
        }
        if path.is_file() {
            list.push(path);
        }
    }
    if splits.train.is_empty() && splits.validation.is_empty() && splits.test.is_empty() {
        return Ok(None);
    }
    if splits.train.is_empty() {
        let held_out = |p: &PathBuf| splits.validation.contains(p) || splits.test.contains(p);
        splits.train = data_files(dir)?
            .into_iter()
            .filter(|p| !held_out(p))
            .collect();
    }
    Ok(Some(splits))
}

/// The single file of the `embeddings` channel.
fn one_file(dir: &Path) -> Result<PathBuf, ContractError> {
    let mut files = data_files(dir)?;
    if files.len() == 1 {
        return Ok(files.remove(0));
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(ContractError::EmbeddingsNotOneFile {
        dir: dir.to_path_buf(),
        count: files.len(),
        names: if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        },
    })
}

fn channel_files(channel: &str, dir: &Path) -> Result<Vec<PathBuf>, ContractError> {
    let files = data_files(dir)?;
    if files.is_empty() {
        return Err(ContractError::EmptyChannel {
            channel: channel.to_string(),
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Deepest directory nesting walked inside a channel.
pub const MAX_CHANNEL_DEPTH: usize = 16;

/// All regular non-hidden files under `dir`, recursively, sorted by path. Symlinks are followed,
/// but each real file and directory (by device and inode) is read once, so a link back up
/// (`loop -> .`, `sub/up -> ..`) neither repeats data nor recurses forever.
pub fn data_files(dir: &Path) -> Result<Vec<PathBuf>, ContractError> {
    let mut walk = Walk::default();
    if let Some(id) = file_id(dir) {
        walk.seen.insert(id);
    }
    walk.dir(dir, 0)?;
    walk.files.sort();
    Ok(walk.files)
}

#[derive(Default)]
struct Walk {
    seen: std::collections::HashSet<(u64, u64)>,
    files: Vec<PathBuf>,
}

impl Walk {
    fn dir(&mut self, dir: &Path, depth: usize) -> Result<(), ContractError> {
        if depth > MAX_CHANNEL_DEPTH {
            return Err(ContractError::TooDeep {
                dir: dir.to_path_buf(),
                max: MAX_CHANNEL_DEPTH,
            });
        }
        for path in sorted_entries(dir)? {
            // A dangling link or a vanished entry has no id: nothing to read.
            let Some(id) = file_id(&path) else { continue };
            if !self.seen.insert(id) {
                continue;
            }
            if path.is_dir() {
                self.dir(&path, depth + 1)?;
            } else if path.is_file() {
                self.files.push(path);
            } else {
                let kind = special_file_kind(&path);
                return Err(ContractError::NotAFile { path, kind });
            }
        }
        Ok(())
    }
}

/// What a path that is neither a file nor a directory is, in words.
fn special_file_kind(path: &Path) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path).map(|m| m.file_type()) {
        Ok(t) if t.is_fifo() => "a FIFO (named pipe)",
        Ok(t) if t.is_socket() => "a socket",
        Ok(t) if t.is_block_device() || t.is_char_device() => "a device",
        _ => "something",
    }
}

/// (device, inode) of what `path` points to.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A weights directory, or the single zip in it. A lone subdirectory (an S3 prefix such as
/// `albert_base_zh/`) is descended into, so the model loader sees the weights themselves.
fn pretrained_location(dir: &Path) -> Result<PathBuf, ContractError> {
    let mut current = dir.to_path_buf();
    loop {
        let entries = sorted_entries(&current)?;
        match entries.as_slice() {
            [only] if only.is_dir() => current = only.clone(),
            [only] if only.is_file() && is_zip(only) => return Ok(only.clone()),
            _ => return Ok(current),
        }
    }
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Non-hidden entries of `dir`, sorted.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ContractError> {
    let read = std::fs::read_dir(dir).map_err(|e| ContractError::io("listing", dir, e))?;
    let mut paths = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| ContractError::io("listing", dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

fn existing_dir(dir: PathBuf) -> Option<PathBuf> {
    dir.is_dir().then_some(dir)
}

fn non_empty(files: Vec<PathBuf>) -> Option<Vec<PathBuf>> {
    (!files.is_empty()).then_some(files)
}
