//! Checkpoint files read from inside a zip, without extracting it to disk.
//!
//! The albert_zh releases ship as zips (`albert_base_zh_additional_36k_steps.zip` holding a folder with
//! the checkpoint, config and vocab). Extracting them would need scratch disk that a SageMaker job
//! may not have, so entries are read in place:
//!
//! * stored (uncompressed) entries are read by seeking into the archive: no extra memory;
//! * deflated entries cannot be seeked, so a data shard is inflated into memory once, on its first
//!   tensor read, and kept for the lifetime of the `Checkpoint`: the memory cost is the uncompressed
//!   shard size (for albert_base_zh, tens of MB; more when the checkpoint carries Adam slots).
//!   The `.index` and sibling files are read whole anyway and are small.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::CheckpointError;

pub(crate) struct ZipSource {
    zip_path: PathBuf,
    /// Entry-name prefix of the checkpoint's folder inside the archive: "" or "some/folder/".
    folder: String,
    archive: Mutex<ZipArchive<File>>,
    /// Deflated data shards, inflated on first use.
    inflated: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for ZipSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipSource")
            .field("zip_path", &self.zip_path)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// Files macOS adds when zipping (`__MACOSX/...`, AppleDouble `._name`): never checkpoint files,
/// but `._albert_model.ckpt.index` would otherwise look like a second index.
fn is_junk(name: &str) -> bool {
    name.starts_with("__MACOSX/") || name.rsplit('/').next().is_some_and(|b| b.starts_with("._"))
}

impl ZipSource {
    /// Opens the archive and finds its one `.index` entry, at any folder depth.
    /// Returns the source (rooted at that entry's folder) and the checkpoint prefix (file name
    /// without `.index`).
    pub fn open(zip_path: &Path) -> Result<(ZipSource, String), CheckpointError> {
        let shown = zip_path.display().to_string();
        let file = File::open(zip_path).map_err(|source| CheckpointError::Io {
            path: shown.clone(),
            source,
        })?;
        let archive = ZipArchive::new(file).map_err(|source| CheckpointError::Zip {
            path: shown.clone(),
            source,
        })?;
        let mut indexes: Vec<String> = archive
            .file_names()
            .filter(|n| n.ends_with(".index") && !is_junk(n))
            .map(str::to_string)
            .collect();
        indexes.sort();
        let index = match indexes.len() {
            0 => {
                return Err(CheckpointError::NotFound {
                    path: shown,
                    why: "the zip holds no *.index entry".into(),
                })
            }
            1 => indexes.pop().unwrap(),
            _ => {
                return Err(CheckpointError::SeveralIndexes {
                    path: shown,
                    found: indexes,
                })
            }
        };
        let (folder, base) = match index.rfind('/') {
            Some(i) => (index[..=i].to_string(), &index[i + 1..]),
            None => (String::new(), &index[..]),
        };
        let prefix = base.strip_suffix(".index").unwrap().to_string();
        let source = ZipSource {
            zip_path: zip_path.to_path_buf(),
            folder,
            archive: Mutex::new(archive),
            inflated: Mutex::new(HashMap::new()),
        };
        Ok((source, prefix))
    }

    pub fn describe(&self, file: &str) -> String {
        format!("{}!{}{}", self.zip_path.display(), self.folder, file)
    }

    fn zip_err(&self, file: &str, source: ZipError) -> CheckpointError {
        CheckpointError::Zip {
            path: self.describe(file),
            source,
        }
    }

    fn io_err(&self, file: &str, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: self.describe(file),
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ZipArchive<File>> {
        // A panic while holding the lock leaves the archive reader usable: every use seeks first.
        self.archive.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Files directly in the checkpoint's folder (not in subfolders, no directories, no macOS junk).
    pub fn files(&self) -> Vec<String> {
        let archive = self.lock();
        let mut out: Vec<String> = archive
            .file_names()
            .filter(|n| !is_junk(n))
            .filter_map(|n| n.strip_prefix(self.folder.as_str()))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    fn entry_index(&self, archive: &ZipArchive<File>, file: &str) -> Option<usize> {
        archive.index_for_name(&format!("{}{}", self.folder, file))
    }

    /// Uncompressed length of `file`, or `None` if the archive has no such entry.
    pub fn len(&self, file: &str) -> Result<Option<u64>, CheckpointError> {
        let mut archive = self.lock();
        let Some(i) = self.entry_index(&archive, file) else {
            return Ok(None);
        };
        let entry = archive.by_index_raw(i).map_err(|e| self.zip_err(file, e))?;
        Ok(if entry.is_dir() {
            None
        } else {
            Some(entry.size())
        })
    }

    pub fn read_all(&self, file: &str) -> Result<Vec<u8>, CheckpointError> {
        let mut archive = self.lock();
        let i = self
            .entry_index(&archive, file)
            .ok_or_else(|| self.zip_err(file, ZipError::FileNotFound))?;
        let mut entry = archive.by_index(i).map_err(|e| self.zip_err(file, e))?;
        let mut buf = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        // Reading to the end also checks the entry's zip crc32.
        entry
            .read_to_end(&mut buf)
            .map_err(|e| self.io_err(file, e))?;
        Ok(buf)
    }

    /// `len` bytes at `offset` of `file`'s uncompressed contents; the caller has bounds-checked.
    pub fn read_range(
        &self,
        file: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, CheckpointError> {
        {
            let mut archive = self.lock();
            let i = self
                .entry_index(&archive, file)
                .ok_or_else(|| self.zip_err(file, ZipError::FileNotFound))?;
            let method = archive
                .by_index_raw(i)
                .map_err(|e| self.zip_err(file, e))?
                .compression();
            if method == CompressionMethod::Stored {
                let mut entry = archive
                    .by_index_seek(i)
                    .map_err(|e| self.zip_err(file, e))?;
                entry
                    .seek(SeekFrom::Start(offset))
                    .map_err(|e| self.io_err(file, e))?;
                let mut buf = vec![0u8; len];
                entry
                    .read_exact(&mut buf)
                    .map_err(|e| self.io_err(file, e))?;
                return Ok(buf);
            }
        }
        let data = {
            // Held while inflating, so two threads never inflate the same shard twice.
            let mut cache = self.inflated.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(file) {
                Some(d) => Arc::clone(d),
                None => {
                    let d = Arc::new(self.read_all(file)?);
                    cache.insert(file.to_string(), Arc::clone(&d));
                    d
                }
            }
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(len).and_then(|end| data.get(start..end)) {
            Some(s) => Ok(s.to_vec()),
            None => Err(self.io_err(
                file,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "bytes {offset}..+{len} lie past the end ({} bytes)",
                        data.len()
                    ),
                ),
            )),
        }
    }
}
