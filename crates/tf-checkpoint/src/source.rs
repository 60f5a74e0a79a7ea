//! Where the checkpoint's files live: a directory or a folder inside a zip.
//!
//! Also turns the many spellings of "this checkpoint" users pass (a directory, the `.index` file, a
//! data shard, the bare prefix, a zip) into one (source, prefix) pair.

use std::path::{Path, PathBuf};

use crate::dir_source::DirSource;
use crate::error::CheckpointError;
use crate::zip_source::ZipSource;

#[derive(Debug)]
pub(crate) enum Source {
    Dir(DirSource),
    Zip(ZipSource),
}

impl Source {
    /// How `file` is shown in errors and logs.
    pub fn describe(&self, file: &str) -> String {
        match self {
            Source::Dir(d) => d.describe(file),
            Source::Zip(z) => z.describe(file),
        }
    }

    pub fn files(&self) -> Result<Vec<String>, CheckpointError> {
        match self {
            Source::Dir(d) => d.files(),
            Source::Zip(z) => Ok(z.files()),
        }
    }

    pub fn len(&self, file: &str) -> Result<Option<u64>, CheckpointError> {
        match self {
            Source::Dir(d) => d.len(file),
            Source::Zip(z) => z.len(file),
        }
    }

    pub fn read_all(&self, file: &str) -> Result<Vec<u8>, CheckpointError> {
        match self {
            Source::Dir(d) => d.read_all(file),
            Source::Zip(z) => z.read_all(file),
        }
    }

    pub fn read_range(
        &self,
        file: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, CheckpointError> {
        match self {
            Source::Dir(d) => d.read_range(file, offset, len),
            Source::Zip(z) => z.read_range(file, offset, len),
        }
    }
}

fn is_zip(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        return true;
    }
    // A zip downloaded without its extension (e.g. an S3 object key) still starts with "PK\3\4".
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// `albert_model.ckpt.data-00000-of-00001` → `albert_model.ckpt`.
fn strip_data_suffix(name: &str) -> Option<&str> {
    let (prefix, tail) = name.rsplit_once(".data-")?;
    let (a, b) = tail.split_once("-of-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    (digits(a) && digits(b)).then_some(prefix)
}

fn dir_and_prefix(file: &Path, prefix: &str) -> (Source, String) {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (Source::Dir(DirSource::new(dir)), prefix.to_string())
}

/// Resolves what the user passed to `Checkpoint::open` into a source and a checkpoint prefix
/// (the file name before `.index`).
pub(crate) fn locate(path: &Path) -> Result<(Source, String), CheckpointError> {
    let shown = path.display().to_string();
    let not_found = |why: String| CheckpointError::NotFound {
        path: shown.clone(),
        why,
    };
    if path.is_dir() {
        let dir = DirSource::new(path.to_path_buf());
        let mut indexes: Vec<String> = dir
            .files()?
            .into_iter()
            .filter(|n| n.ends_with(".index") && !n.starts_with("._"))
            .collect();
        return match indexes.len() {
            0 => Err(not_found("the directory holds no *.index file".into())),
            1 => {
                let index = indexes.pop().unwrap();
                let prefix = index.strip_suffix(".index").unwrap().to_string();
                Ok((Source::Dir(dir), prefix))
            }
            _ => Err(CheckpointError::SeveralIndexes {
                path: shown,
                found: indexes,
            }),
        };
    }
    if path.is_file() {
        if is_zip(path) {
            let (z, prefix) = ZipSource::open(path)?;
            return Ok((Source::Zip(z), prefix));
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let prefix = name
            .strip_suffix(".index")
            .or_else(|| strip_data_suffix(name))
            .or_else(|| name.strip_suffix(".meta"));
        return match prefix {
            Some(p) => Ok(dir_and_prefix(path, p)),
            None => Err(not_found(
                "a file that is neither a zip, a .index, a .data-NNNNN-of-NNNNN nor a .meta file"
                    .into(),
            )),
        };
    }
    // Not a file or directory: the bare prefix, e.g. `dir/albert_model.ckpt`.
    let name = path.file_name().and_then(|n| n.to_str());
    if let Some(name) = name {
        let mut index = path.as_os_str().to_owned();
        index.push(".index");
        if Path::new(&index).is_file() {
            return Ok(dir_and_prefix(path, name));
        }
    }
    Err(not_found(format!("neither it nor {shown}.index exists")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_suffix() {
        assert_eq!(
            strip_data_suffix("albert_model.ckpt.data-00000-of-00001"),
            Some("albert_model.ckpt")
        );
        assert_eq!(strip_data_suffix("x.data-0-of-"), None);
        assert_eq!(strip_data_suffix("x.data-a-of-1"), None);
    }
}
