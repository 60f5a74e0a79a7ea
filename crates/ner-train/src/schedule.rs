//! Learning-rate schedule: linear warm-up from 0, then linear decay to 0 (BERT's and HF's default).

/// Multiplier of the base learning rate at each optimiser step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl LinearSchedule {
    /// `warmup_proportion` of `total_steps` (rounded down) warm up, as the replaced `albert_ner.py` did.
    pub fn new(total_steps: usize, warmup_proportion: f64) -> Self {
        let warmup_steps = (total_steps as f64 * warmup_proportion.clamp(0.0, 1.0)) as usize;
        Self {
            warmup_steps,
            total_steps: total_steps.max(1),
        }
    }

    /// Factor for the update made at 0-based `step`.
    pub fn factor(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            let remaining = self.total_steps.saturating_sub(step) as f64;
            let span = (self.total_steps - self.warmup_steps).max(1) as f64;
            (remaining / span).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let s = LinearSchedule::new(100, 0.1);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.factor(0) - 0.1).abs() < 1e-12);
        assert!((s.factor(9) - 1.0).abs() < 1e-12);
        assert!((s.factor(10) - 1.0).abs() < 1e-12);
        assert!((s.factor(55) - 0.5).abs() < 1e-12);
        assert_eq!(s.factor(100), 0.0);
        for step in 10..99 {
            assert!(s.factor(step + 1) < s.factor(step));
        }
    }

    #[test]
    fn no_warmup_starts_at_full_rate() {
        let s = LinearSchedule::new(4, 0.0);
        assert_eq!(s.factor(0), 1.0);
        assert_eq!(s.factor(2), 0.5);
    }
}
