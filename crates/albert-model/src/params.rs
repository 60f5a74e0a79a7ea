//! Which variables the optimizer treats how: encoder vs. head (so the head can get its own learning
//! rate) and decayed vs. not (biases and LayerNorm parameters get no weight decay, as in BERT/ALBERT
//! fine-tuning).
//!
//! Every variable this crate creates is registered in the tch optimizer group
//! [`ParamGroup::of_name`]`(full_name).index()`, so a trainer can build an `nn::Optimizer` over the whole
//! VarStore and set per-group learning rate and weight decay with `set_lr_group` /
//! `set_weight_decay_group`. [`names_by_group`] gives the same partition by name for logging or for
//! optimizers built by hand; both come from the one rule in [`ParamGroup::of_name`].

use std::collections::BTreeMap;

use tch::nn;

/// An optimizer parameter group. The discriminant is the tch group index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamGroup {
    /// ALBERT weight matrices and embedding tables.
    EncoderDecay = 0,
    /// ALBERT biases and LayerNorm weights/biases.
    EncoderNoDecay = 1,
    /// `classifier.weight` and the CRF transition tables.
    HeadDecay = 2,
    /// `classifier.bias`.
    HeadNoDecay = 3,
}

impl ParamGroup {
    /// All groups, in index order.
    pub const ALL: [ParamGroup; 4] = [
        ParamGroup::EncoderDecay,
        ParamGroup::EncoderNoDecay,
        ParamGroup::HeadDecay,
        ParamGroup::HeadNoDecay,
    ];

    /// The tch optimizer group index (`nn::Path::set_group`, `Optimizer::set_lr_group`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the variable is newly created for tagging (never comes from a pretrained encoder).
    pub fn is_head(self) -> bool {
        matches!(self, ParamGroup::HeadDecay | ParamGroup::HeadNoDecay)
    }

    /// Whether weight decay applies.
    pub fn decays(self) -> bool {
        matches!(self, ParamGroup::EncoderDecay | ParamGroup::HeadDecay)
    }

    /// The group of a variable by its VarStore name.
    ///
    /// Head = `classifier.*` and `crf.*`. No decay = names ending in `.bias` or any LayerNorm parameter
    /// (`LayerNorm`, `full_layer_layer_norm`); unlike HF's usual `["bias", "LayerNorm.weight"]` string
    /// test this also exempts `full_layer_layer_norm.weight`, which is a LayerNorm gain like the others.
    /// The CRF tables are decayed like the classifier weight (they are scores, not offsets).
    pub fn of_name(name: &str) -> ParamGroup {
        let head = name.starts_with("classifier.") || name.starts_with("crf.");
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let no_decay = leaf == "bias" || name.contains("LayerNorm") || name.contains("layer_norm");
        match (head, no_decay) {
            (false, false) => ParamGroup::EncoderDecay,
            (false, true) => ParamGroup::EncoderNoDecay,
            (true, false) => ParamGroup::HeadDecay,
            (true, true) => ParamGroup::HeadNoDecay,
        }
    }
}

/// Variable names of a VarStore per group, sorted, every group present (possibly empty).
pub fn names_by_group(vs: &nn::VarStore) -> BTreeMap<ParamGroup, Vec<String>> {
    let mut out: BTreeMap<ParamGroup, Vec<String>> =
        ParamGroup::ALL.iter().map(|g| (*g, Vec::new())).collect();
    for name in vs.variables().into_keys() {
        out.entry(ParamGroup::of_name(&name))
            .or_default()
            .push(name);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Creates `path/name` in the optimizer group its full name belongs to.
pub(crate) fn var(path: &nn::Path, name: &str, dims: &[i64], init: nn::Init) -> tch::Tensor {
    let group = ParamGroup::of_name(&path.path(name));
    path.set_group(group.index()).var(name, dims, init)
}

/// A `y = x Wᵀ + b` layer with HF's variable names (`weight` [out, in], `bias` [out]) whose weight and
/// bias land in different optimizer groups, which `tch::nn::linear` cannot do.
#[derive(Debug)]
pub struct Linear {
    pub weight: tch::Tensor,
    pub bias: tch::Tensor,
}

impl Linear {
    /// HF's initialisation: weight ~ N(0, std), bias = 0.
    pub(crate) fn new(path: &nn::Path, in_dim: i64, out_dim: i64, std: f64) -> Self {
        Linear {
            weight: var(
                path,
                "weight",
                &[out_dim, in_dim],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
            ),
            bias: var(path, "bias", &[out_dim], nn::Init::Const(0.0)),
        }
    }

    pub fn forward(&self, xs: &tch::Tensor) -> tch::Tensor {
        xs.linear(&self.weight, Some(&self.bias))
    }
}

/// LayerNorm over the last dimension with HF's names (`weight` = 1, `bias` = 0 at init).
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: tch::Tensor,
    pub bias: tch::Tensor,
    eps: f64,
}

impl LayerNorm {
    pub(crate) fn new(path: &nn::Path, dim: i64, eps: f64) -> Self {
        LayerNorm {
            weight: var(path, "weight", &[dim], nn::Init::Const(1.0)),
            bias: var(path, "bias", &[dim], nn::Init::Const(0.0)),
            eps,
        }
    }

    pub fn forward(&self, xs: &tch::Tensor) -> tch::Tensor {
        let dim = self.weight.size()[0];
        xs.layer_norm([dim], Some(&self.weight), Some(&self.bias), self.eps, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_groups() {
        use ParamGroup::*;
        let l = "albert.encoder.albert_layer_groups.0.albert_layers.0.";
        assert_eq!(
            ParamGroup::of_name("albert.embeddings.word_embeddings.weight"),
            EncoderDecay
        );
        assert_eq!(
            ParamGroup::of_name("albert.embeddings.LayerNorm.weight"),
            EncoderNoDecay
        );
        assert_eq!(
            ParamGroup::of_name(&format!("{l}full_layer_layer_norm.weight")),
            EncoderNoDecay
        );
        assert_eq!(
            ParamGroup::of_name(&format!("{l}attention.query.bias")),
            EncoderNoDecay
        );
        assert_eq!(ParamGroup::of_name(&format!("{l}ffn.weight")), EncoderDecay);
        assert_eq!(ParamGroup::of_name("classifier.weight"), HeadDecay);
        assert_eq!(ParamGroup::of_name("classifier.bias"), HeadNoDecay);
        assert_eq!(ParamGroup::of_name("crf.transitions"), HeadDecay);
        assert_eq!(ParamGroup::of_name("crf.start_transitions"), HeadDecay);
    }
}
