//! Which variables the optimizer treats how. Each module declares, when it creates a variable, which
//! [`Part`] of the tagger it belongs to (so that part can learn at its own rate) and whether weight decay
//! applies (weight matrices and tables decay; biases and LayerNorm parameters do not, as in BERT/ALBERT
//! fine-tuning). The declaration is stored as the variable's tch optimizer group
//! ([`ParamGroup::index`]); [`groups`] reads it back by name. Nothing decides by name.

use std::collections::BTreeMap;

use tch::nn;

use crate::error::ModelError;
use crate::inference_weights::{ConvertedLinear, InferenceWeights};

/// The part of a tagger a variable belongs to; each can learn at its own rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// ALBERT, or the character embeddings of a BiLSTM encoder: what `learning_rate` drives.
    Encoder,
    /// The bidirectional LSTM of the `bilstm` and `albert_bilstm` encoders.
    Lstm,
    /// The classifier and the CRF, always new for a task.
    Head,
}

/// An optimizer parameter group: a [`Part`] and whether weight decay applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamGroup {
    pub part: Part,
    pub decays: bool,
}

impl ParamGroup {
    /// All groups, in index order.
    pub const ALL: [ParamGroup; 6] = [
        ParamGroup::new(Part::Encoder, true),
        ParamGroup::new(Part::Encoder, false),
        ParamGroup::new(Part::Lstm, true),
        ParamGroup::new(Part::Lstm, false),
        ParamGroup::new(Part::Head, true),
        ParamGroup::new(Part::Head, false),
    ];

    pub const fn new(part: Part, decays: bool) -> Self {
        ParamGroup { part, decays }
    }

    /// The tch optimizer group index (`nn::Path::set_group`, `Optimizer::set_lr_group`).
    pub fn index(self) -> usize {
        self.part as usize * 2 + usize::from(!self.decays)
    }

    /// The group stored under a tch group index, if it is one of ours.
    pub fn from_index(index: usize) -> Option<Self> {
        Self::ALL.get(index).copied()
    }
}

/// Every variable of `vs` by name, with the group its module declared.
///
/// # Panics
/// If a variable was created outside this crate's modules (its tch group is not a [`ParamGroup`]).
pub fn groups(vs: &nn::VarStore) -> BTreeMap<String, ParamGroup> {
    let inner = vs.variables_.lock().expect("VarStore lock");
    let by_ptr: std::collections::HashMap<usize, usize> = inner
        .trainable_variables
        .iter()
        .map(|v| (v.tensor.data_ptr() as usize, v.group))
        .collect();
    inner
        .named_variables
        .iter()
        .map(|(name, t)| {
            let index = by_ptr
                .get(&(t.data_ptr() as usize))
                .copied()
                .unwrap_or(usize::MAX);
            let group = ParamGroup::from_index(index)
                .unwrap_or_else(|| panic!("{name} has no parameter group (tch group {index})"));
            (name.clone(), group)
        })
        .collect()
}

/// Variable names of a VarStore per group, sorted, every group present (possibly empty).
pub fn names_by_group(vs: &nn::VarStore) -> BTreeMap<ParamGroup, Vec<String>> {
    let mut out: BTreeMap<ParamGroup, Vec<String>> =
        ParamGroup::ALL.iter().map(|g| (*g, Vec::new())).collect();
    for (name, group) in groups(vs) {
        out.entry(group).or_default().push(name);
    }
    out
}

/// Creates `path/name` in `group`.
pub(crate) fn var(
    path: &nn::Path,
    name: &str,
    dims: &[i64],
    init: nn::Init,
    group: ParamGroup,
) -> tch::Tensor {
    path.set_group(group.index()).var(name, dims, init)
}

/// A `y = x Wᵀ + b` layer with HF's variable names (`weight` [out, in], `bias` [out]) whose weight
/// decays and whose bias does not, which `tch::nn::linear` cannot express. For inference its weights
/// can be converted once to int8 or bf16 ([`Linear::convert`]); the float32 variables stay as they are.
#[derive(Debug)]
pub struct Linear {
    pub weight: tch::Tensor,
    pub bias: tch::Tensor,
    converted: Option<ConvertedLinear>,
}

impl Linear {
    /// HF's initialisation: weight ~ N(0, std), bias = 0.
    pub(crate) fn new(path: &nn::Path, in_dim: i64, out_dim: i64, std: f64, part: Part) -> Self {
        Linear {
            converted: None,
            weight: var(
                path,
                "weight",
                &[out_dim, in_dim],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
                ParamGroup::new(part, true),
            ),
            bias: var(
                path,
                "bias",
                &[out_dim],
                nn::Init::Const(0.0),
                ParamGroup::new(part, false),
            ),
        }
    }

    /// A layer over existing tensors, outside any VarStore (a fused projection for inference).
    pub(crate) fn from_tensors(weight: tch::Tensor, bias: tch::Tensor) -> Self {
        Linear {
            weight,
            bias,
            converted: None,
        }
    }

    /// Converts the weights once to `form` for inference; [`Self::forward`] then computes in it.
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.converted = ConvertedLinear::new(form, &self.weight, &self.bias)?;
        Ok(())
    }

    pub fn forward(&self, xs: &tch::Tensor) -> tch::Tensor {
        match &self.converted {
            Some(converted) => converted.forward(xs),
            None => xs.linear(&self.weight, Some(&self.bias)),
        }
    }
}

/// LayerNorm over the last dimension with HF's names (`weight` = 1, `bias` = 0 at init), never decayed.
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: tch::Tensor,
    pub bias: tch::Tensor,
    eps: f64,
}

impl LayerNorm {
    pub(crate) fn new(path: &nn::Path, dim: i64, eps: f64, part: Part) -> Self {
        let group = ParamGroup::new(part, false);
        LayerNorm {
            weight: var(path, "weight", &[dim], nn::Init::Const(1.0), group),
            bias: var(path, "bias", &[dim], nn::Init::Const(0.0), group),
            eps,
        }
    }

    /// Normalises in the parameters' kind: an input a bf16 layer left in bf16 comes back to float32 here.
    pub fn forward(&self, xs: &tch::Tensor) -> tch::Tensor {
        let dim = self.weight.size()[0];
        let xs = if xs.kind() == self.weight.kind() {
            xs.shallow_clone()
        } else {
            xs.to_kind(self.weight.kind())
        };
        xs.layer_norm([dim], Some(&self.weight), Some(&self.bias), self.eps, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_round_trip() {
        for (i, g) in ParamGroup::ALL.iter().enumerate() {
            assert_eq!(g.index(), i);
            assert_eq!(ParamGroup::from_index(i), Some(*g));
        }
        assert_eq!(ParamGroup::from_index(6), None);
    }
}
