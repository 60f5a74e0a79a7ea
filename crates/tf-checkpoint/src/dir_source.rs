//! Checkpoint files read straight from a directory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::CheckpointError;

/// The directory holding the checkpoint; file names are relative to it.
#[derive(Debug)]
pub(crate) struct DirSource {
    dir: PathBuf,
}

fn io_err(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DirSource {
    pub fn new(dir: PathBuf) -> Self {
        DirSource { dir }
    }

    pub fn describe(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// Regular files directly in the directory (names that are not UTF-8 are skipped: they cannot be
    /// checkpoint files, and config/vocab files are asked for by UTF-8 name).
    pub fn files(&self) -> Result<Vec<String>, CheckpointError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            // Follows symlinks, so a directory of links into a cache still works.
            if entry.path().is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Length of `file`, or `None` if it does not exist.
    pub fn len(&self, file: &str) -> Result<Option<u64>, CheckpointError> {
        let path = self.dir.join(file);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    pub fn read_all(&self, file: &str) -> Result<Vec<u8>, CheckpointError> {
        let path = self.dir.join(file);
        std::fs::read(&path).map_err(|e| io_err(&path, e))
    }

    pub fn read_range(
        &self,
        file: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, CheckpointError> {
        let path = self.dir.join(file);
        let mut f = File::open(&path).map_err(|e| io_err(&path, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io_err(&path, e))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).map_err(|e| io_err(&path, e))?;
        Ok(buf)
    }
}
