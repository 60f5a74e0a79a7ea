//! The NCCL backend lives in `libner_dist_nccl.so` (built by build.rs where libtorch has CUDA), which
//! links libtorch_cuda: it is loaded only when a process trains on a GPU, so CPU runs never map CUDA.

use std::path::PathBuf;
use std::sync::OnceLock;

const LIBRARY: &str = "libner_dist_nccl.so";

/// Loads the NCCL backend library once (`RTLD_GLOBAL`, where the shim's `dlsym` finds it); the error
/// says where it looked and why it failed.
pub fn load_nccl() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(load).clone()
}

fn load() -> Result<(), String> {
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL;
    let mut tried = Vec::new();
    for path in candidates() {
        if !path.exists() {
            tried.push(format!("{}: absent", path.display()));
            continue;
        }
        // SAFETY: its static initialisers only set up libtorch_cuda and NCCL, as loading
        // libtorch_cuda does. The handle is leaked: the group's backend points into the library.
        match unsafe { libloading::os::unix::Library::open(Some(&path), flags) } {
            Ok(lib) => {
                std::mem::forget(lib);
                return Ok(());
            }
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    Err(format!("no loadable {LIBRARY} ({})", tried.join("; ")))
}

/// `ALBERT_NER_NCCL_LIB`, beside the executable (the image), then where this build put it.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ALBERT_NER_NCCL_LIB") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        out.push(dir.join(LIBRARY));
    }
    if let Some(built) = option_env!("NER_DIST_NCCL_LIB") {
        out.push(PathBuf::from(built));
    }
    out
}
