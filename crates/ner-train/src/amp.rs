//! fp16 loss scaling, the part of mixed precision that only training needs; the precision itself
//! ([`Precision`], [`MixedPrecision`]) is `ner-infer`'s, since inference computes in it too.

pub use ner_infer::{MixedPrecision, Precision};

use crate::adamw::AdamW;

/// fp16 dynamic loss scaling (as `torch.amp.GradScaler`): large scale, halved on overflow, doubled after
/// `growth_interval` clean steps.
#[derive(Debug, Clone)]
pub struct LossScaler {
    pub scale: f64,
    good_steps: usize,
    growth_interval: usize,
    /// Only fp16 scales; bf16 and fp32 have the range they need.
    active: bool,
}

impl LossScaler {
    /// A scaler at `scale` (a checkpoint's, or the first one) that scales only under fp16.
    pub fn for_precision(precision: Precision, scale: f64) -> Self {
        Self {
            scale,
            good_steps: 0,
            growth_interval: 2000,
            active: precision == Precision::Fp16,
        }
    }

    /// What a loss is multiplied by before its backward pass: the scale under fp16, else 1.
    pub fn factor(&self) -> f64 {
        if self.active {
            self.scale
        } else {
            1.0
        }
    }

    /// Before an update: under fp16, `opt`'s gradients unscaled and the scale moved by whether they
    /// are finite. Whether to apply the update (always, without fp16).
    pub(crate) fn unscale(&mut self, opt: &mut AdamW) -> bool {
        if !self.active {
            return true;
        }
        opt.unscale_grads(self.scale);
        self.update(opt.grads_finite())
    }

    /// Records whether this step's gradients were finite; returns true when the update should be applied.
    pub fn update(&mut self, grads_finite: bool) -> bool {
        if grads_finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
        }
        grads_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_scaler_backs_off_and_grows() {
        let mut s = LossScaler {
            scale: 1024.0,
            good_steps: 0,
            growth_interval: 2,
            active: true,
        };
        assert!(!s.update(false));
        assert_eq!(s.scale, 512.0);
        assert!(s.update(true));
        assert!(s.update(true));
        assert_eq!(s.scale, 1024.0);
    }
}
