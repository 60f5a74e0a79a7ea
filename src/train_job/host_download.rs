//! Weights from `pretrained_model_uri`, downloaded once per host. An agent's workers share a directory
//! ([`HOST_SCRATCH_ENV`], made and removed by the agent): the first worker to take its lock downloads,
//! the others wait on the lock and take what it wrote. A process on its own downloads into its scratch.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing::info;

/// Set by an agent in its workers: the host's directory for what they download once.
pub const HOST_SCRATCH_ENV: &str = "ALBERT_NER_HOST_SCRATCH";

/// The weights at `uri` on this machine: downloaded into the host's shared directory once, or into
/// `scratch` by a process on its own.
pub fn fetch_s3(uri: &str, scratch: &Path) -> Result<PathBuf> {
    match std::env::var_os(HOST_SCRATCH_ENV) {
        Some(dir) => download_once(uri, Path::new(&dir)),
        None => download(uri, &scratch.join("pretrained")),
    }
}

fn download(uri: &str, dest: &Path) -> Result<PathBuf> {
    info!("downloading pretrained weights from {uri}");
    s3_fetch::download(uri, dest).with_context(|| format!("pretrained_model_uri {uri}"))
}

fn download_once(uri: &str, dir: &Path) -> Result<PathBuf> {
    let lock_path = dir.join(".download.lock");
    let lock =
        File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    // SAFETY: flock(2) on a descriptor this function owns; the lock goes with it when `lock` drops.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", lock_path.display()));
    }
    // Written last, holding where the weights are: its presence means the download is complete.
    let done = dir.join(".downloaded");
    if let Ok(location) = std::fs::read(&done) {
        info!("pretrained weights from {uri}: already downloaded on this host by another worker");
        return Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&location)));
    }
    let location = download(uri, &dir.join("pretrained"))?;
    std::fs::write(&done, location.as_os_str().as_bytes())
        .with_context(|| format!("writing {}", done.display()))?;
    Ok(location)
}
