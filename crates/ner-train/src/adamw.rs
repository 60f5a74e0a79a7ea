//! AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW` update) and
//! per-parameter learning-rate multipliers.
//!
//! Written here rather than using `tch::nn::Optimizer` because its moment estimates live inside the C++
//! optimiser and cannot be saved: spot-instance resume needs them in the checkpoint.

use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::TrainError;

/// One trainable tensor and how it is optimised.
pub struct ParamSlot {
    pub name: String,
    pub param: Tensor,
    /// Multiplies the scheduled learning rate (the CRF and classifier learn faster than the encoder).
    pub lr_multiplier: f64,
    pub weight_decay: f64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// AdamW state over a fixed set of parameters.
pub struct AdamW {
    slots: Vec<ParamSlot>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: i64,
}

/// How one parameter is optimised, decided by the caller from its name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    pub lr_multiplier: f64,
    pub weight_decay: f64,
}

/// Learning-rate multipliers of a tagger's parts (the encoder learns at the scheduled rate itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartRates {
    /// The BiLSTM of the `bilstm` and `albert_bilstm` encoders.
    pub lstm: f64,
    /// The classifier and CRF (they start from scratch).
    pub head: f64,
}

impl PartRates {
    pub fn of(self, part: albert_model::Part) -> f64 {
        match part {
            albert_model::Part::Encoder => 1.0,
            albert_model::Part::Lstm => self.lstm,
            albert_model::Part::Head => self.head,
        }
    }
}

impl AdamW {
    /// `params` are the model's variables by name; `group` says how each is optimised.
    pub fn new(params: Vec<(String, Tensor)>, group: impl Fn(&str) -> ParamGroup) -> Self {
        let slots = params
            .into_iter()
            .map(|(name, param)| {
                let g = group(&name);
                let exp_avg = param.zeros_like().to_kind(Kind::Float);
                let exp_avg_sq = param.zeros_like().to_kind(Kind::Float);
                ParamSlot {
                    name,
                    param,
                    lr_multiplier: g.lr_multiplier,
                    weight_decay: g.weight_decay,
                    exp_avg,
                    exp_avg_sq,
                }
            })
            .collect();
        Self {
            slots,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            step: 0,
        }
    }

    /// AdamW over every variable of a tagger's VarStore, sorted by name so state lines up across runs,
    /// each optimised as its module declared (`albert_model::groups`): its part learns at `rates`' multiple
    /// of the rate, and weight decay applies only where the module says it does.
    pub fn for_tagger(vs: &tch::nn::VarStore, rates: PartRates, weight_decay: f64) -> Self {
        let declared = albert_model::groups(vs);
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Self::new(vars, |name| {
            let g = declared[name];
            ParamGroup {
                lr_multiplier: rates.of(g.part),
                weight_decay: if g.decays { weight_decay } else { 0.0 },
            }
        })
    }

    pub fn slots(&self) -> &[ParamSlot] {
        &self.slots
    }

    /// Number of updates applied so far.
    pub fn step_count(&self) -> i64 {
        self.step
    }

    /// Sets the number of updates (a replica taking rank 0's state).
    pub fn set_step_count(&mut self, step: i64) {
        self.step = step;
    }

    /// The moment estimates (shallow handles: writing into them writes the state), in slot order.
    pub fn moments(&self) -> Vec<Tensor> {
        self.slots
            .iter()
            .flat_map(|s| [s.exp_avg.shallow_clone(), s.exp_avg_sq.shallow_clone()])
            .collect()
    }

    /// Every parameter's gradient (shallow handles), in slot order; see [`AdamW::define_missing_grads`].
    pub fn grads(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.param.grad()).collect()
    }

    /// Gives a zero gradient to every parameter that has none yet, so that every replica holds the
    /// same set of gradients to reduce (a replica with an empty shard did no backward pass).
    pub fn define_missing_grads(&mut self) {
        let missing: Vec<Tensor> = self
            .slots
            .iter()
            .filter(|s| !s.param.grad().defined())
            .map(|s| (&s.param * 0.0).sum(Kind::Float))
            .collect();
        if !missing.is_empty() {
            Tensor::stack(&missing, 0).sum(Kind::Float).backward();
        }
    }

    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.param.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let norms: Vec<Tensor> = self
                .slots
                .iter()
                .filter_map(|s| {
                    let g = s.param.grad();
                    g.defined().then(|| g.to_kind(Kind::Float).norm())
                })
                .collect();
            if norms.is_empty() {
                return 0.0;
            }
            let total = f64::try_from(Tensor::stack(&norms, 0).norm()).unwrap_or(f64::NAN);
            if max_norm > 0.0 && total > max_norm {
                let scale = max_norm / (total + 1e-6);
                for s in &mut self.slots {
                    let mut g = s.param.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(scale);
                    }
                }
            }
            total
        })
    }

    /// True when every gradient is finite (mixed-precision overflow check).
    pub fn grads_finite(&self) -> bool {
        tch::no_grad(|| {
            self.slots.iter().all(|s| {
                let g = s.param.grad();
                !g.defined() || bool::try_from(g.isfinite().all()).unwrap_or(false)
            })
        })
    }

    /// Divides every gradient by `factor` (undoes fp16 loss scaling).
    pub fn unscale_grads(&mut self, factor: f64) {
        tch::no_grad(|| {
            for s in &mut self.slots {
                let mut g = s.param.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(1.0 / factor);
                }
            }
        })
    }

    /// One update at learning rate `lr` (already scheduled), PyTorch AdamW semantics.
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let (beta1, beta2, eps) = (self.beta1, self.beta2, self.eps);
        tch::no_grad(|| {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let g = g.to_kind(Kind::Float);
                let lr = lr * s.lr_multiplier;
                if s.weight_decay > 0.0 {
                    let _ = s.param.g_mul_scalar_(1.0 - lr * s.weight_decay);
                }
                let _ = s.exp_avg.lerp_(&g, 1.0 - beta1);
                let _ = s.exp_avg_sq.g_mul_scalar_(beta2);
                let _ = s.exp_avg_sq.addcmul_(&(&g * (1.0 - beta2)), &g);
                let denom = s.exp_avg_sq.sqrt() / bias2_sqrt + eps;
                let update = (&s.exp_avg / denom) * (-lr / bias1);
                let _ = s.param.g_add_(&update.to_kind(s.param.kind()));
            }
        });
    }

    /// Writes the moment estimates (safetensors) and the step count, for resuming.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.slots.len() + 1);
        for s in &self.slots {
            named.push((
                format!("exp_avg.{}", s.name),
                s.exp_avg.to_device(tch::Device::Cpu),
            ));
            named.push((
                format!("exp_avg_sq.{}", s.name),
                s.exp_avg_sq.to_device(tch::Device::Cpu),
            ));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step])));
        albert_model::write_safetensors(&named, path).map_err(|e| TrainError::io(path, e))
    }

    /// Restores what [`AdamW::save`] wrote; every parameter's moments must be there with the same shape.
    pub fn load(&mut self, path: &Path) -> Result<(), TrainError> {
        let tensors = Tensor::read_safetensors(path).map_err(|e| TrainError::io_tch(path, e))?;
        let mut by_name: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        let step = by_name.remove("step").ok_or_else(|| {
            TrainError::Checkpoint(format!("{}: no `step` tensor", path.display()))
        })?;
        let step = i64::try_from(step.get(0)).map_err(|e| TrainError::io_tch(path, e))?;
        // Check every tensor before copying any, so a bad file leaves the state untouched.
        let mut sources = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            for (prefix, dst) in [("exp_avg", &s.exp_avg), ("exp_avg_sq", &s.exp_avg_sq)] {
                let key = format!("{prefix}.{}", s.name);
                let src = by_name.remove(&key).ok_or_else(|| {
                    TrainError::Checkpoint(format!("{}: missing `{key}`", path.display()))
                })?;
                if src.size() != dst.size() {
                    return Err(TrainError::Checkpoint(format!(
                        "{}: `{key}` has shape {:?}, the model needs {:?}",
                        path.display(),
                        src.size(),
                        dst.size()
                    )));
                }
                sources.push(src);
            }
        }
        let mut sources = sources.into_iter();
        tch::no_grad(|| {
            for s in &mut self.slots {
                s.exp_avg.copy_(&sources.next().expect("validated above"));
                s.exp_avg_sq
                    .copy_(&sources.next().expect("validated above"));
            }
        });
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from `torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)`
    /// on p = [1.0, -2.0] with loss = sum(p^2) for three steps (torch 2.11).
    #[test]
    fn matches_torch_adamw() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(vec![("p".into(), p.shallow_clone())], |_| ParamGroup {
            lr_multiplier: 1.0,
            weight_decay: 0.01,
        });
        for _ in 0..3 {
            opt.zero_grad();
            (&p * &p).sum(Kind::Float).backward();
            opt.step(0.1);
        }
        let got: Vec<f32> = Vec::try_from(&p).unwrap();
        let want = [0.698_911_3f32, -1.694_944_6];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }
}
