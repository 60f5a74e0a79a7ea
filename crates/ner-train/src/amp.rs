//! fp16 loss scaling, the part of mixed precision that only training needs; the precision itself
//! ([`Precision`], [`MixedPrecision`]) is `ner-infer`'s, since inference computes in it too.

pub use ner_infer::{MixedPrecision, Precision};

/// fp16 dynamic loss scaling (as `torch.amp.GradScaler`): large scale, halved on overflow, doubled after
/// `growth_interval` clean steps.
#[derive(Debug, Clone)]
pub struct LossScaler {
    pub scale: f64,
    good_steps: usize,
    growth_interval: usize,
}

impl LossScaler {
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            good_steps: 0,
            growth_interval: 2000,
        }
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
        };
        assert!(!s.update(false));
        assert_eq!(s.scale, 512.0);
        assert!(s.update(true));
        assert!(s.update(true));
        assert_eq!(s.scale, 1024.0);
    }
}
