//! The form a trained tagger's linear layers take for inference: as trained (fp32), int8 (dynamically
//! quantized) or bf16. Embeddings, LayerNorm, the LSTM and the CRF keep fp32 in every form; the
//! conversion happens once, after loading ([`crate::NerTagger::convert_linear_layers`]), never per call.

use tch::{Kind, Tensor};

use crate::error::ModelError;
use crate::int8_linear::Int8Linear;

/// What a converted tagger's linear layers compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InferenceWeights {
    /// The trained float32 weights, unchanged.
    #[default]
    Fp32,
    /// Weights quantized to int8 per output row, inputs to uint8 per call (`quantize_dynamic`'s kernel
    /// with `per_channel_dynamic_qconfig`).
    Int8,
    /// Weights and the layers' inputs in bfloat16; outputs stay bfloat16 until a LayerNorm, an LSTM or
    /// the emissions take them back to float32.
    Bf16,
}

/// A linear layer's converted weights, beside the float32 ones it was made from.
#[derive(Debug)]
pub(crate) enum ConvertedLinear {
    Int8(Int8Linear),
    Bf16 { weight: Tensor, bias: Tensor },
}

impl ConvertedLinear {
    /// `weight` [out, in] and `bias` [out] in `form`; `None` for fp32 (nothing to convert).
    pub(crate) fn new(
        form: InferenceWeights,
        weight: &Tensor,
        bias: &Tensor,
    ) -> Result<Option<Self>, ModelError> {
        Ok(match form {
            InferenceWeights::Fp32 => None,
            InferenceWeights::Int8 => Some(ConvertedLinear::Int8(Int8Linear::new(weight, bias)?)),
            InferenceWeights::Bf16 => Some(ConvertedLinear::Bf16 {
                weight: weight.detach().to_kind(Kind::BFloat16),
                bias: bias.detach().to_kind(Kind::BFloat16),
            }),
        })
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> Tensor {
        match self {
            ConvertedLinear::Int8(layer) => layer.forward(&xs.to_kind(Kind::Float)),
            ConvertedLinear::Bf16 { weight, bias } => {
                xs.to_kind(Kind::BFloat16).linear(weight, Some(bias))
            }
        }
    }
}
