//! Reads TensorFlow tensor-bundle checkpoints (`PREFIX.index` + `PREFIX.data-0000S-of-0000N`) without
//! TensorFlow, so that albert_zh's released weights can initialise a libtorch model in an image that
//! has no Python.
//!
//! The `.index` is a LevelDB-format table mapping tensor names to `BundleEntryProto`s (dtype, shape,
//! shard, offset, size, crc32c); the data shards are the raw little-endian tensor bytes. Every block
//! crc and every tensor crc is verified, because a silently corrupt embedding table would only show
//! up as a model that trains badly.
//!
//! ```no_run
//! use tf_checkpoint::{Checkpoint, DType};
//! # fn main() -> Result<(), tf_checkpoint::CheckpointError> {
//! let ckpt = Checkpoint::open("albert_base_zh_additional_36k_steps.zip".as_ref())?;
//! for var in ckpt.variables().filter(|v| v.dtype == DType::Float) {
//!     let values = ckpt.read_f32(&var.name)?; // row-major, var.shape
//!     assert_eq!(values.len(), var.num_elements().unwrap());
//! }
//! let step = ckpt.read_i64("global_step")?[0];
//! let config = ckpt.read_sibling("albert_config_base.json")?;
//! # let _ = (step, config); Ok(()) }
//! ```

mod bundle;
mod dir_source;
mod dtype;
mod error;
mod proto;
mod source;
mod sstable;
mod zip_source;

use std::collections::BTreeMap;
use std::path::Path;

pub use dtype::DType;
pub use error::CheckpointError;

use bundle::Entry;
use source::Source;

/// A tensor as listed in the index: enough to plan loading without reading data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub dtype: DType,
    /// Row-major dimensions; empty for a scalar.
    pub shape: Vec<usize>,
}

impl Variable {
    /// Product of the dimensions (1 for a scalar); `None` on overflow, which only a corrupt index produces.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
}

/// An opened checkpoint: its index decoded and checked, its data shards known to exist.
///
/// Tensor bytes are read on demand, so listing variables of a large checkpoint is cheap. `Checkpoint`
/// is `Send + Sync`; reads from several threads are fine.
#[derive(Debug)]
pub struct Checkpoint {
    source: Source,
    prefix: String,
    num_shards: u32,
    entries: BTreeMap<String, Entry>,
}

/// The variables an `.index` file lists, without its data shards: enough to detect a layout and
/// plan a load (or to inspect a checkpoint whose shards are still downloading).
pub fn read_index(index_file: &Path) -> Result<Vec<Variable>, CheckpointError> {
    let data = std::fs::read(index_file).map_err(|e| CheckpointError::Io {
        path: index_file.display().to_string(),
        source: e,
    })?;
    let bundle = bundle::parse_index(&data, &index_file.display().to_string())?;
    Ok(bundle.entries.into_values().map(|e| e.var).collect())
}

impl Checkpoint {
    /// `path`: a directory holding exactly one `*.index` (an error listing them if several), the
    /// `.index` file itself (or a `.data-*` shard), the prefix (`dir/albert_model.ckpt`), or a `.zip`
    /// holding such a directory, nested at any depth — the brightmart albert_zh zips put everything
    /// under a top folder such as `albert_base_zh_additional_36k_steps/`. macOS `__MACOSX/` and `._*`
    /// entries are ignored.
    ///
    /// Reads and verifies the whole index and checks every data shard is present, so that a broken
    /// download fails here rather than halfway through loading.
    ///
    /// Memory: the index is held decoded (small). Directory shards and *stored* zip entries are read
    /// in place per tensor; a *deflated* zip shard is inflated into memory on its first tensor read
    /// and kept until the `Checkpoint` is dropped, costing its uncompressed size.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let (source, prefix) = source::locate(path)?;
        let index_file = format!("{prefix}.index");
        let data = source.read_all(&index_file)?;
        let bundle = bundle::parse_index(&data, &source.describe(&index_file))?;
        let ckpt = Checkpoint {
            source,
            prefix,
            num_shards: bundle.num_shards,
            entries: bundle.entries,
        };
        for shard in 0..ckpt.num_shards {
            let file = ckpt.data_file(shard);
            if ckpt.source.len(&file)?.is_none() {
                return Err(CheckpointError::MissingShard {
                    file: ckpt.source.describe(&file),
                    index: ckpt.source.describe(&index_file),
                    num_shards: ckpt.num_shards,
                });
            }
        }
        Ok(ckpt)
    }

    /// Where the checkpoint was found, for logs: `dir/albert_model.ckpt` or `x.zip!folder/albert_model.ckpt`.
    pub fn location(&self) -> String {
        self.source.describe(&self.prefix)
    }

    /// Number of `.data-*` files the bundle is split into.
    pub fn num_shards(&self) -> u32 {
        self.num_shards
    }

    /// Every tensor, sorted by name (bytewise, as TensorFlow sorts them). Includes tensors this crate
    /// cannot read (strings, resources), so callers can report them rather than miss them.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.entries.values().map(|e| &e.var)
    }

    /// Looks one tensor up without reading it.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.entries.get(name).map(|e| &e.var)
    }

    /// Number of tensors in the checkpoint.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for a checkpoint with no tensors (TensorFlow can write one).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A float tensor widened to f32, row-major in the `Variable`'s shape. DT_HALF and DT_BFLOAT16 are
    /// exact; DT_DOUBLE rounds to nearest. Any other dtype is an error naming it.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        let entry = self.entry(name)?;
        if dtype::decode_f32(entry.var.dtype, &[]).is_none() {
            return Err(self.wrong_dtype(entry, "f32"));
        }
        let bytes = self.read_bytes(entry)?;
        Ok(dtype::decode_f32(entry.var.dtype, &bytes).expect("dtype checked above"))
    }

    /// An integer tensor (int8/16/32/64, uint8/16/32) widened to i64: `global_step`, step counters.
    pub fn read_i64(&self, name: &str) -> Result<Vec<i64>, CheckpointError> {
        let entry = self.entry(name)?;
        if dtype::decode_i64(entry.var.dtype, &[]).is_none() {
            return Err(self.wrong_dtype(entry, "i64"));
        }
        let bytes = self.read_bytes(entry)?;
        Ok(dtype::decode_i64(entry.var.dtype, &bytes).expect("dtype checked above"))
    }

    /// Other files beside the checkpoint (same directory, or same folder of the zip), sorted: the
    /// albert_zh releases keep `albert_config_*.json` and `vocab.txt` there, and the model needs both.
    /// The checkpoint's own `.index` and `.data-*` files are left out.
    pub fn sibling_files(&self) -> Vec<String> {
        self.source
            .files()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !self.is_own_file(f))
            .collect()
    }

    /// Contents of one of `sibling_files()`; anything else (including paths) is refused, so a name from
    /// a config cannot reach outside the checkpoint's folder.
    pub fn read_sibling(&self, file_name: &str) -> Result<Vec<u8>, CheckpointError> {
        let have = self.sibling_files();
        if !have.iter().any(|f| f == file_name) {
            return Err(CheckpointError::NoSuchSibling {
                location: self.location(),
                name: file_name.to_string(),
                have,
            });
        }
        self.source.read_all(file_name)
    }

    fn is_own_file(&self, f: &str) -> bool {
        match f.strip_prefix(self.prefix.as_str()) {
            Some(".index") => true,
            Some(rest) => {
                rest.starts_with(".data-") && (0..self.num_shards).any(|s| self.data_file(s) == f)
            }
            None => false,
        }
    }

    fn data_file(&self, shard: u32) -> String {
        format!("{}.data-{shard:05}-of-{:05}", self.prefix, self.num_shards)
    }

    fn index_name(&self) -> String {
        self.source.describe(&format!("{}.index", self.prefix))
    }

    fn entry(&self, name: &str) -> Result<&Entry, CheckpointError> {
        self.entries
            .get(name)
            .ok_or_else(|| CheckpointError::NoSuchTensor {
                file: self.index_name(),
                tensor: name.to_string(),
            })
    }

    fn wrong_dtype(&self, entry: &Entry, wanted: &'static str) -> CheckpointError {
        CheckpointError::WrongDType {
            file: self.index_name(),
            tensor: entry.var.name.clone(),
            dtype: entry.var.dtype,
            wanted,
        }
    }

    /// The tensor's raw bytes, bounds- and crc-checked.
    fn read_bytes(&self, entry: &Entry) -> Result<Vec<u8>, CheckpointError> {
        if entry.slices > 0 {
            return Err(CheckpointError::Sliced {
                file: self.index_name(),
                tensor: entry.var.name.clone(),
                slices: entry.slices,
            });
        }
        let file = self.data_file(entry.shard_id);
        let shown = || self.source.describe(&file);
        let len = self
            .source
            .len(&file)?
            .ok_or_else(|| CheckpointError::MissingShard {
                file: shown(),
                index: self.index_name(),
                num_shards: self.num_shards,
            })?;
        let end = entry.offset.saturating_add(entry.size);
        let size = usize::try_from(entry.size).ok().filter(|_| end <= len);
        let Some(size) = size else {
            return Err(CheckpointError::TruncatedData {
                file: shown(),
                tensor: entry.var.name.clone(),
                offset: entry.offset,
                end,
                len,
            });
        };
        let bytes = self.source.read_range(&file, entry.offset, size)?;
        let actual = crc32c::crc32c(&bytes);
        if actual != entry.crc32c {
            return Err(CheckpointError::TensorChecksum {
                file: shown(),
                tensor: entry.var.name.clone(),
                offset: entry.offset,
                expected: entry.crc32c,
                actual,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_is_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Checkpoint>();
    }
}
