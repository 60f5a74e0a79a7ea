//! A linear layer with its weight in int8: libtorch's dynamically quantized linear (fbgemm on x86), the
//! kernel `torch.ao.quantization.quantize_dynamic` puts in place of `nn.Linear`, through the C++ shim in
//! `csrc/int8_linear.cpp` (tch has no bindings for the `quantized::` operators).

use std::ffi::{c_char, c_int, c_void, CStr};

use tch::Tensor;
use torch_sys::C_tensor;

use crate::error::ModelError;

extern "C" {
    fn albert_ner_int8_pack(
        weight: *const C_tensor,
        bias: *const C_tensor,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn albert_ner_int8_supported() -> c_int;
    fn albert_ner_int8_free(packed: *mut c_void);
    fn albert_ner_int8_free_error(err: *mut c_char);
    fn albert_ner_int8_linear(
        packed: *mut c_void,
        x: *const C_tensor,
        out: *mut *mut C_tensor,
        err: *mut *mut c_char,
    ) -> c_int;
}

/// Whether this CPU and libtorch run int8 linear layers (libtorch has the fbgemm or x86 quantized
/// engine, which need AVX2).
pub fn int8_supported() -> bool {
    // SAFETY: a plain C function reading libtorch's global context.
    unsafe { albert_ner_int8_supported() == 1 }
}

/// A weight `[out, in]` quantized once to symmetric int8 with one scale per output row (torch's
/// `per_channel_dynamic_qconfig`) and prepacked with its float bias; each call quantizes its input to uint8 with the input's own range.
#[derive(Debug)]
pub(crate) struct Int8Linear {
    packed: *mut c_void,
}

// SAFETY: the packed weight is written once, in `new`, and only read afterwards (libtorch's quantized
// modules share theirs between threads the same way); dropping it frees it once.
unsafe impl Send for Int8Linear {}
unsafe impl Sync for Int8Linear {}

impl Int8Linear {
    /// Quantizes and packs `weight` [out, in] and `bias` [out] (float, on the CPU).
    pub(crate) fn new(weight: &Tensor, bias: &Tensor) -> Result<Self, ModelError> {
        let mut err = std::ptr::null_mut();
        // SAFETY: both pointers are live tensors for the call; the shim copies what it keeps.
        let packed = unsafe { albert_ner_int8_pack(weight.as_ptr(), bias.as_ptr(), &mut err) };
        if packed.is_null() {
            return Err(ModelError::Quantize {
                message: unsafe { take_message(err) },
            });
        }
        Ok(Int8Linear { packed })
    }

    /// `x Wᵀ + b` for `x` `[..., in]` float32 on the CPU.
    ///
    /// # Panics
    /// If libtorch refuses the input (another dtype or device, a wrong width), as tch's own operators do.
    pub(crate) fn forward(&self, xs: &Tensor) -> Tensor {
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: `packed` is live while `self` is; on success `out` is a new tensor we now own.
        let rc = unsafe { albert_ner_int8_linear(self.packed, xs.as_ptr(), &mut out, &mut err) };
        if rc != 0 {
            panic!("int8 linear layer: {}", unsafe { take_message(err) });
        }
        unsafe { Tensor::from_ptr(out) }
    }
}

impl Drop for Int8Linear {
    fn drop(&mut self) {
        // SAFETY: `packed` came from albert_ner_int8_pack and is freed only here.
        unsafe { albert_ner_int8_free(self.packed) }
    }
}

/// Takes ownership of a message the shim malloc'd.
///
/// # Safety
/// `err` is null or a message the shim returned and nobody freed.
unsafe fn take_message(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error".into();
    }
    let message = CStr::from_ptr(err).to_string_lossy().into_owned();
    albert_ner_int8_free_error(err);
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The shim's `guarded` (torch-link's `shim_errors.h`) hands libtorch's error to Rust as its
    /// message without the C++ backtrace.
    #[test]
    fn a_libtorch_error_comes_back_as_its_message() {
        if !int8_supported() {
            eprintln!("skipped: no fbgemm/x86 quantized engine on this CPU");
            return;
        }
        let float = (Kind::Float, Device::Cpu);
        let layer =
            Int8Linear::new(&Tensor::ones([4, 3], float), &Tensor::zeros([4], float)).unwrap();
        assert_eq!(layer.forward(&Tensor::ones([2, 3], float)).size(), [2, 4]);
        let wrong_width = Tensor::ones([2, 5], float);
        let panic = std::panic::catch_unwind(|| layer.forward(&wrong_width)).unwrap_err();
        let message = panic.downcast_ref::<String>().expect("a formatted panic");
        let cause = message.strip_prefix("int8 linear layer: ").unwrap_or("");
        assert!(
            cause.len() > 10 && cause != "unknown C++ exception",
            "libtorch's own message follows: {message}"
        );
        assert!(
            !message.contains("Exception raised from"),
            "no C++ backtrace: {message}"
        );
    }
}
