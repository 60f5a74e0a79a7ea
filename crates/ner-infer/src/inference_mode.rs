//! What a loaded model computes in when it tags: the requested [`InferencePrecision`] resolved for the
//! device, the encoder and the CPU into the form of the linear layers' weights and the autocast region
//! of each forward pass, with the reason for the start-up line.

use albert_model::{EncoderSpec, InferenceWeights};
use ner_settings::InferencePrecision;
use tch::Device;

use crate::error::InferError;
use crate::precision::{MixedPrecision, Precision};

/// The precision a model tags in, resolved once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceMode {
    /// The GPU autocast region around each forward pass (fp32 on a CPU: none).
    pub autocast: Precision,
    /// What the encoder's and classifier's linear layers are converted to after loading.
    pub weights: InferenceWeights,
    /// Which precision and why, for the start-up line.
    pub why: String,
}

/// What the machine offers, asked once by [`CpuSupport::detect`] (tests build their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSupport {
    /// libtorch has a quantized engine for int8 linear layers on this CPU (fbgemm/x86, AVX2).
    pub int8: bool,
    /// The CPU has bf16 instructions (`avx512_bf16` or `amx_bf16`).
    pub bf16: bool,
}

impl CpuSupport {
    pub fn detect() -> Self {
        CpuSupport {
            int8: albert_model::int8_supported(),
            bf16: crate::cpu_features::cpu_has_bf16(),
        }
    }
}

impl InferenceMode {
    /// Resolves `requested` for `device` and `encoder`. A GPU keeps its autocast (bf16 where it has
    /// it, else fp16) and refuses int8; a CPU refuses what it lacks, and `auto` picks by
    /// [`auto_on_cpu`].
    pub fn resolve(
        requested: InferencePrecision,
        device: Device,
        encoder: &EncoderSpec,
        cpu: CpuSupport,
    ) -> Result<Self, InferError> {
        if device.is_cuda() {
            return on_gpu(requested, device);
        }
        let mode = |weights, why: String| InferenceMode {
            autocast: Precision::Fp32,
            weights,
            why,
        };
        match requested {
            InferencePrecision::Fp32 => Ok(mode(InferenceWeights::Fp32, "fp32 requested".into())),
            InferencePrecision::Int8 if cpu.int8 => {
                Ok(mode(InferenceWeights::Int8, "int8 requested".into()))
            }
            InferencePrecision::Int8 => Err(refused(
                requested,
                "libtorch has no int8 engine for this CPU (fbgemm needs AVX2); use fp32",
            )),
            InferencePrecision::Bf16 if cpu.bf16 => {
                Ok(mode(InferenceWeights::Bf16, "bf16 requested".into()))
            }
            InferencePrecision::Bf16 => Err(refused(
                requested,
                &format!(
                    "this CPU has no bf16 instructions (none of {} in /proc/cpuinfo); use fp32{}",
                    crate::cpu_features::BF16_FLAGS.join(", "),
                    if cpu.int8 { " or int8" } else { "" }
                ),
            )),
            InferencePrecision::Auto => {
                let (weights, why) = auto_on_cpu(encoder, cpu);
                Ok(mode(weights, format!("auto: {why}")))
            }
        }
    }
}

/// `auto` on a CPU, from measurements on this project's models (README, "Inference precision"):
/// int8 for encoders with a transformer, where its linear layers are most of the work and int8 kept
/// entity F1 within 0.5 points of fp32; fp32 for the character BiLSTM, whose only linear layer is the
/// classifier.
pub fn auto_on_cpu(encoder: &EncoderSpec, cpu: CpuSupport) -> (InferenceWeights, String) {
    if encoder.transformer().is_none() {
        return (
            InferenceWeights::Fp32,
            "fp32: the BiLSTM encoder's only linear layer is its classifier, nothing to gain"
                .into(),
        );
    }
    if cpu.int8 {
        return (
            InferenceWeights::Int8,
            "int8: measured fastest on CPU with entity F1 within 0.5 points of fp32".into(),
        );
    }
    (
        InferenceWeights::Fp32,
        "fp32: libtorch has no int8 engine for this CPU".into(),
    )
}

/// A GPU computes in autocast as training does; int8 (fbgemm) is a CPU kernel.
fn on_gpu(requested: InferencePrecision, device: Device) -> Result<InferenceMode, InferError> {
    let mixed = match requested {
        InferencePrecision::Auto => MixedPrecision::Auto,
        InferencePrecision::Fp32 => MixedPrecision::Off,
        InferencePrecision::Bf16 => MixedPrecision::Bf16,
        InferencePrecision::Int8 => {
            return Err(refused(
                requested,
                "int8 runs on the CPU only; on a GPU use auto, fp32 or bf16 (or --device cpu)",
            ))
        }
    };
    let (autocast, why) = Precision::resolve(mixed, device);
    Ok(InferenceMode {
        autocast,
        weights: InferenceWeights::Fp32,
        why,
    })
}

fn refused(requested: InferencePrecision, message: &str) -> InferError {
    InferError::Precision {
        requested: requested.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use albert_model::{AlbertConfig, BiLstmConfig, CharEmbeddingConfig};

    use super::*;

    const BOTH: CpuSupport = CpuSupport {
        int8: true,
        bf16: true,
    };
    const NEITHER: CpuSupport = CpuSupport {
        int8: false,
        bf16: false,
    };

    fn albert() -> EncoderSpec {
        EncoderSpec::Albert(AlbertConfig::default())
    }

    fn bilstm() -> EncoderSpec {
        EncoderSpec::Bilstm {
            embedding: CharEmbeddingConfig {
                vocab_size: 10,
                char_embedding_size: 4,
                pad_token_id: 0,
            },
            lstm: BiLstmConfig {
                hidden_size: 4,
                num_layers: 1,
                dropout: 0.0,
            },
        }
    }

    fn weights(
        requested: InferencePrecision,
        encoder: &EncoderSpec,
        cpu: CpuSupport,
    ) -> InferenceWeights {
        InferenceMode::resolve(requested, Device::Cpu, encoder, cpu)
            .unwrap()
            .weights
    }

    #[test]
    fn a_cpu_converts_what_is_asked_when_it_can() {
        assert_eq!(
            weights(InferencePrecision::Fp32, &albert(), BOTH),
            InferenceWeights::Fp32
        );
        assert_eq!(
            weights(InferencePrecision::Int8, &albert(), BOTH),
            InferenceWeights::Int8
        );
        assert_eq!(
            weights(InferencePrecision::Bf16, &bilstm(), BOTH),
            InferenceWeights::Bf16
        );
        assert_eq!(
            weights(InferencePrecision::Fp32, &albert(), NEITHER),
            InferenceWeights::Fp32
        );
    }

    #[test]
    fn a_cpu_refuses_what_it_lacks_saying_what_it_has() {
        let refusal = |requested| {
            InferenceMode::resolve(requested, Device::Cpu, &albert(), NEITHER)
                .unwrap_err()
                .to_string()
        };
        let bf16 = refusal(InferencePrecision::Bf16);
        assert!(bf16.starts_with("precision bf16: "), "{bf16}");
        assert!(
            bf16.contains("avx512_bf16, amx_bf16") && bf16.contains("use fp32"),
            "{bf16}"
        );
        let int8 = refusal(InferencePrecision::Int8);
        assert!(
            int8.starts_with("precision int8: ") && int8.contains("use fp32"),
            "{int8}"
        );
    }

    #[test]
    fn auto_on_a_cpu_is_int8_for_transformers_and_says_why() {
        let mode =
            InferenceMode::resolve(InferencePrecision::Auto, Device::Cpu, &albert(), BOTH).unwrap();
        assert_eq!(mode.weights, InferenceWeights::Int8);
        assert_eq!(mode.autocast, Precision::Fp32);
        assert!(mode.why.starts_with("auto: int8: measured"), "{}", mode.why);
        assert_eq!(
            weights(InferencePrecision::Auto, &bilstm(), BOTH),
            InferenceWeights::Fp32
        );
        assert_eq!(
            weights(InferencePrecision::Auto, &albert(), NEITHER),
            InferenceWeights::Fp32
        );
    }

    #[test]
    fn a_gpu_refuses_int8_and_keeps_fp32_weights() {
        let err =
            InferenceMode::resolve(InferencePrecision::Int8, Device::Cuda(0), &albert(), BOTH)
                .unwrap_err()
                .to_string();
        assert!(err.contains("CPU only"), "{err}");
        let fp32 =
            InferenceMode::resolve(InferencePrecision::Fp32, Device::Cuda(0), &albert(), BOTH)
                .unwrap();
        assert_eq!(
            (fp32.autocast, fp32.weights),
            (Precision::Fp32, InferenceWeights::Fp32)
        );
    }
}
