//! Feed-forward activations, named as HF's `hidden_act` strings so `config.json` round-trips.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// The FFN nonlinearity. `Gelu` is the exact (erf) form and `GeluNew` the tanh approximation; the two
/// differ by up to ~1e-3, far above the 1e-4 we hold ourselves to against HF, so they must not be mixed
/// up (albert_zh's and Google BERT's TF `gelu` is the tanh form: see [`crate::AlbertConfig::from_albert_zh_json`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    #[serde(rename = "gelu")]
    Gelu,
    /// Also accepted as `gelu_pytorch_tanh` and `gelu_fast`: the same function, written differently.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    #[serde(rename = "relu")]
    Relu,
    #[serde(rename = "silu", alias = "swish")]
    Silu,
    #[serde(rename = "tanh")]
    Tanh,
}

impl Activation {
    /// Applies the activation elementwise.
    pub fn apply(self, xs: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => xs.gelu("none"),
            Activation::GeluNew => xs.gelu("tanh"),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
            Activation::Tanh => xs.tanh(),
        }
    }

    /// HF's name for it, as written into `config.json`.
    pub fn hf_name(self) -> &'static str {
        match self {
            Activation::Gelu => "gelu",
            Activation::GeluNew => "gelu_new",
            Activation::Relu => "relu",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_variants_match_their_formulas() {
        let x = Tensor::from_slice(&[-3.0f32, -1.0, -0.1, 0.0, 0.5, 2.0]);
        let erf = &x * 0.5 * ((&x / 2f64.sqrt()).erf() + 1.0);
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let tanh = &x * 0.5 * (((&x + x.pow_tensor_scalar(3) * 0.044715) * c).tanh() + 1.0);
        let d1 = f64::try_from((Activation::Gelu.apply(&x) - erf).abs().max()).unwrap();
        let d2 = f64::try_from((Activation::GeluNew.apply(&x) - tanh).abs().max()).unwrap();
        assert!(d1 < 1e-6 && d2 < 1e-6, "{d1} {d2}");
    }

    #[test]
    fn names_round_trip_and_aliases() {
        for a in [
            Activation::Gelu,
            Activation::GeluNew,
            Activation::Relu,
            Activation::Silu,
            Activation::Tanh,
        ] {
            let s = serde_json::to_string(&a).unwrap();
            assert_eq!(s, format!("\"{}\"", a.hf_name()));
            assert_eq!(serde_json::from_str::<Activation>(&s).unwrap(), a);
        }
        let a: Activation = serde_json::from_str("\"gelu_pytorch_tanh\"").unwrap();
        assert_eq!(a, Activation::GeluNew);
    }
}
