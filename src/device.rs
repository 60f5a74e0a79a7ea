//! Choosing the device, and loading libtorch's CUDA backend only where it can be used.
//!
//! `libtorch_cuda.so` registers CUDA with libtorch from its static initialisers; nothing in our code
//! calls into it, so the linker drops it and `tch::Cuda::is_available()` would say false even on a
//! GPU. Linking it unconditionally (`--no-as-needed`) fixes that but maps the whole CUDA stack
//! (cuBLAS, cuDNN, NCCL: ~350 MB resident) into every CPU-only run, most of a tiny model's footprint.
//! So the binaries `dlopen` it when they choose a device, from the directory their rpath names (or
//! `ld.so.conf` in the image), where an NVIDIA driver is present or CUDA is asked for.

use std::path::Path;

use anyhow::{bail, Result};
use ner_settings::Device;
use tracing::warn;

const CUDA_LIBRARY: &str = "libtorch_cuda.so";

/// The device to run on. Call it before anything else touches libtorch: libtorch looks up its CUDA
/// hooks once (a seed, a device count, an allocation all ask) and keeps the answer, so a backend loaded
/// after that stays invisible. Asking for CUDA where there is none, or a driver whose backend cannot be
/// loaded, is an error, not a silent CPU run.
pub fn select(request: Device) -> Result<tch::Device> {
    let wants_cuda = match request {
        Device::Cpu => false,
        Device::Cuda => true,
        Device::Auto => nvidia_driver_present(),
    };
    if !wants_cuda {
        return Ok(tch::Device::Cpu);
    }
    load_cuda_backend()?;
    if tch::Cuda::is_available() {
        return Ok(tch::Device::Cuda(0));
    }
    let why = cuda_unavailable_reason();
    if request == Device::Cuda {
        bail!("device=cuda but no CUDA device is visible to libtorch: {why}")
    }
    warn!(
        "an NVIDIA driver is present but libtorch sees no CUDA device ({why}): running on the CPU"
    );
    Ok(tch::Device::Cpu)
}

/// libtorch's own first line on why it cannot allocate on the GPU (no driver, no device, ...).
fn cuda_unavailable_reason() -> String {
    match tch::Tensor::f_zeros([1], (tch::Kind::Float, tch::Device::Cuda(0))) {
        Ok(_) => "yet a CUDA tensor could be allocated".to_string(),
        Err(e) => {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or_default();
            line.trim_start_matches("Internal torch error: ")
                .to_string()
        }
    }
}

/// Whether this machine (or container) exposes an NVIDIA driver.
pub fn nvidia_driver_present() -> bool {
    ["/proc/driver/nvidia/version", "/dev/nvidiactl"]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// Loads `libtorch_cuda.so` into the process (idempotent: the loader keeps one copy).
fn load_cuda_backend() -> Result<()> {
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL;
    // SAFETY: its static initialisers only register the CUDA backend with the libtorch already
    // loaded here. The handle is leaked on purpose: unloading would leave dangling registrations.
    match unsafe { libloading::os::unix::Library::open(Some(CUDA_LIBRARY), flags) } {
        Ok(lib) => {
            std::mem::forget(lib);
            Ok(())
        }
        Err(e) => bail!("loading libtorch's CUDA backend: {e}"),
    }
}

/// Free bytes on CUDA device `index` as the driver counts them (`cudaMemGetInfo` of the CUDA runtime
/// that libtorch's CUDA backend brought into the process; other processes' use included). `None` where
/// that runtime is not loaded or the call fails. The call makes the device current on this thread and
/// creates its context if there is none: call it only in the process that will use the device.
pub fn cuda_free_bytes(index: usize) -> Option<u64> {
    use std::ffi::c_int;
    type SetDevice = unsafe extern "C" fn(c_int) -> c_int;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;
    // dlopen(NULL): the global scope, where `load_cuda_backend`'s RTLD_GLOBAL put the runtime.
    let this = libloading::os::unix::Library::this();
    // SAFETY: the symbols have these signatures in every CUDA runtime (cuda_runtime_api.h); both only
    // write through the pointers given, which point at live locals.
    unsafe {
        let set = this.get::<SetDevice>(b"cudaSetDevice\0").ok()?;
        let info = this.get::<MemGetInfo>(b"cudaMemGetInfo\0").ok()?;
        if set(c_int::try_from(index).ok()?) != 0 {
            return None;
        }
        let (mut free, mut total) = (0usize, 0usize);
        (info(&mut free, &mut total) == 0).then_some(free as u64)
    }
}
