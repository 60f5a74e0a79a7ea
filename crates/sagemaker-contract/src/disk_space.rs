//! Free disk space for what a job will write, checked before it reads its data: a full disk found
//! after hours of training loses the run.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::ContractError;

/// What a job expects to write under one directory.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub dir: PathBuf,
    pub bytes: u64,
    /// What the bytes are, for the message ("the model", "3 checkpoints of 48 MB").
    pub what: String,
}

/// Refuses when the writes planned on one filesystem (directories on one device share its space) need
/// more than it has free; each directory must exist.
pub fn check_free_space(planned: &[PlannedWrite]) -> Result<(), ContractError> {
    let mut by_device: BTreeMap<u64, Vec<&PlannedWrite>> = BTreeMap::new();
    for write in planned {
        let meta = std::fs::metadata(&write.dir).map_err(|source| ContractError::Io {
            action: "checking the free space of",
            path: write.dir.clone(),
            source,
        })?;
        by_device.entry(meta.dev()).or_default().push(write);
    }
    for writes in by_device.values() {
        let free = free_bytes(&writes[0].dir)?;
        let needed: u64 = writes.iter().map(|w| w.bytes).sum();
        if needed > free {
            return Err(ContractError::DiskSpace {
                dirs: join(writes.iter().map(|w| w.dir.display().to_string())),
                free: megabytes(free),
                needed: megabytes(needed),
                detail: join(
                    writes.iter().map(|w| {
                        format!("{} {} in {}", w.what, megabytes(w.bytes), w.dir.display())
                    }),
                ),
            });
        }
    }
    Ok(())
}

/// Bytes an unprivileged process may still write on `dir`'s filesystem.
fn free_bytes(dir: &Path) -> Result<u64, ContractError> {
    use std::os::unix::ffi::OsStrExt;
    let io = |source| ContractError::Io {
        action: "checking the free space of",
        path: dir.to_path_buf(),
        source,
    };
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs(3) fills `stat` from a NUL-terminated path.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(dir: &Path, bytes: u64, what: &str) -> PlannedWrite {
        PlannedWrite {
            dir: dir.to_path_buf(),
            bytes,
            what: what.into(),
        }
    }

    #[test]
    fn writes_on_one_filesystem_share_its_free_space() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("model"), tmp.path().join("checkpoints"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let free = free_bytes(tmp.path()).unwrap();
        assert!(free > 0);
        // Half the free space each fits; together with a little more they do not.
        check_free_space(&[
            planned(&a, free / 4, "the model"),
            planned(&b, free / 4, "checkpoints"),
        ])
        .unwrap();
        let err = check_free_space(&[
            planned(&a, free / 2 + 1, "the model"),
            planned(&b, free / 2 + 1, "2 checkpoints"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("not enough free disk space"), "{err}");
        assert!(
            err.contains(&a.display().to_string()) && err.contains("2 checkpoints"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = check_free_space(&[planned(Path::new("/nonexistent/model"), 1, "the model")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("checking the free space of /nonexistent/model: No such file"),
            "{err}"
        );
    }
}
