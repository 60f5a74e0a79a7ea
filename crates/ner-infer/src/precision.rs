//! The precision a forward pass computes in: bf16 autocast on GPUs that have bf16 (compute capability
//! ≥ 8.0), fp16 autocast on older GPUs (training adds loss scaling), full fp32 on CPU (CPU autocast is
//! slower than fp32 for this model).

use std::ffi::c_int;

pub use ner_settings::MixedPrecision;
use tch::Device;

extern "C" {
    fn albert_ner_autocast_enter(bf16: c_int) -> c_int;
    fn albert_ner_autocast_exit(prev: c_int);
    fn albert_ner_autocast_state() -> c_int;
}

/// What the forward pass actually computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    /// Decides the precision for `device`; the string says why, for the log.
    pub fn resolve(requested: MixedPrecision, device: Device) -> (Self, String) {
        let Device::Cuda(index) = device else {
            let why = match requested {
                MixedPrecision::Off | MixedPrecision::Auto => "fp32 on CPU".to_string(),
                other => format!("mixed_precision={other} ignored on CPU: training in fp32"),
            };
            return (Self::Fp32, why);
        };
        let major = cuda_compute_capability_major(index);
        let has_bf16 = major.is_some_and(|m| m >= 8);
        match requested {
            MixedPrecision::Off => (Self::Fp32, "mixed precision off".into()),
            MixedPrecision::Fp16 => (Self::Fp16, "fp16 autocast with dynamic loss scaling".into()),
            MixedPrecision::Bf16 if has_bf16 => (Self::Bf16, "bf16 autocast".into()),
            MixedPrecision::Bf16 => (
                Self::Fp16,
                format!("bf16 requested but GPU compute capability is {major:?} (< 8.0): fp16 with loss scaling"),
            ),
            MixedPrecision::Auto if has_bf16 => (Self::Bf16, "bf16 autocast (GPU has bf16)".into()),
            MixedPrecision::Auto => (Self::Fp16, "fp16 autocast with loss scaling (GPU lacks bf16)".into()),
        }
    }

    /// Runs `f` (a forward pass) under CUDA autocast at this precision; fp32 runs it as is.
    pub fn autocast<T>(self, f: impl FnOnce() -> T) -> T {
        if self == Self::Fp32 {
            return f();
        }
        // SAFETY: plain C functions over ATen's thread-local autocast state; enter/exit are paired here.
        let prev = unsafe { albert_ner_autocast_enter(c_int::from(self == Self::Bf16)) };
        let out = f();
        unsafe { albert_ner_autocast_exit(prev) };
        out
    }
}

/// Current CUDA autocast state (for tests): None when disabled, else whether the dtype is bf16.
pub fn autocast_state() -> Option<bool> {
    // SAFETY: reads ATen's thread-local autocast flags.
    match unsafe { albert_ner_autocast_state() } {
        0 => None,
        s => Some(s == 2),
    }
}

/// The GPU's compute capability, asked of the CUDA runtime that libtorch_cuda already loaded.
fn cuda_compute_capability_major(device: usize) -> Option<i32> {
    const COMPUTE_CAPABILITY_MAJOR: c_int = 75; // cudaDevAttrComputeCapabilityMajor
    type GetAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
    for name in ["libcudart.so.13", "libcudart.so.12", "libcudart.so"] {
        // SAFETY: loading the CUDA runtime (already mapped by libtorch_cuda) and calling a documented C entry point.
        unsafe {
            let Ok(lib) = libloading::Library::new(name) else {
                continue;
            };
            let Ok(get) = lib.get::<GetAttribute>(b"cudaDeviceGetAttribute\0") else {
                continue;
            };
            let mut major: c_int = 0;
            if get(&mut major, COMPUTE_CAPABILITY_MAJOR, device as c_int) == 0 {
                return Some(major);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_fp32() {
        for req in [
            MixedPrecision::Auto,
            MixedPrecision::Bf16,
            MixedPrecision::Fp16,
            MixedPrecision::Off,
        ] {
            assert_eq!(Precision::resolve(req, Device::Cpu).0, Precision::Fp32);
        }
    }

    #[test]
    fn autocast_region_sets_and_restores_dtype() {
        assert_eq!(autocast_state(), None);
        Precision::Bf16.autocast(|| assert_eq!(autocast_state(), Some(true)));
        assert_eq!(autocast_state(), None);
        Precision::Fp16.autocast(|| assert_eq!(autocast_state(), Some(false)));
        Precision::Fp32.autocast(|| assert_eq!(autocast_state(), None));
        assert_eq!(autocast_state(), None);
    }
}
