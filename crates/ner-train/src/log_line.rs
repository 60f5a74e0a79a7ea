//! The plain, stable log lines that SageMaker `metric_definitions` regexes and people read. One line per
//! event, `key=value` pairs, no carriage returns. The README lists the regexes; changing a key here is
//! a breaking change for users' dashboards.

use std::fmt;

/// Every `logging_steps` optimiser steps.
#[derive(Debug, Clone)]
pub struct TrainLine {
    pub epoch: usize,
    pub step: usize,
    pub total_steps: usize,
    /// Mean loss over the batches since the previous line.
    pub loss: f64,
    pub lr: f64,
    pub samples_per_s: f64,
    pub eta: String,
    /// With data parallelism: the share of the window's wall time spent all-reducing gradients.
    pub allreduce_share: Option<f64>,
}

impl fmt::Display for TrainLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "train: epoch={} step={}/{} loss={:.4} lr={:.3e} samples_per_s={:.1} eta={}",
            self.epoch,
            self.step,
            self.total_steps,
            self.loss,
            self.lr,
            self.samples_per_s,
            self.eta
        )?;
        if let Some(share) = self.allreduce_share {
            write!(f, " allreduce_share={share:.3}")?;
        }
        Ok(())
    }
}

/// After each evaluation (`split` = "eval") and for the test channel (`split` = "test").
#[derive(Debug, Clone)]
pub struct EvalLine {
    pub split: &'static str,
    pub epoch: usize,
    pub step: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub loss: Option<f64>,
    /// The replaced system's token-level macro F1, for comparison only.
    pub token_macro_f1: Option<f64>,
}

impl fmt::Display for EvalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: epoch={} step={} entity_precision={:.4} entity_recall={:.4} entity_f1={:.4}",
            self.split, self.epoch, self.step, self.precision, self.recall, self.f1
        )?;
        if let Some(loss) = self.loss {
            write!(f, " loss={loss:.4}")?;
        }
        if let Some(t) = self.token_macro_f1 {
            write!(f, " token_macro_f1={t:.4}")?;
        }
        Ok(())
    }
}

/// After each pre-training evaluation, on the held-out sequences.
#[derive(Debug, Clone)]
pub struct MlmEvalLine {
    pub epoch: usize,
    pub step: usize,
    /// Mean cross-entropy per predicted piece.
    pub loss: f64,
    /// Share of predicted pieces whose top score is the original.
    pub accuracy: f64,
    pub perplexity: f64,
    /// Share of segment pairs whose order is told right, with sentence-order prediction.
    pub sentence_order_accuracy: Option<f64>,
}

impl fmt::Display for MlmEvalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pretrain_eval: epoch={} step={} loss={:.4} mlm_accuracy={:.4} perplexity={:.2}",
            self.epoch, self.step, self.loss, self.accuracy, self.perplexity
        )?;
        if let Some(a) = self.sentence_order_accuracy {
            write!(f, " sop_accuracy={a:.4}")?;
        }
        Ok(())
    }
}

/// `H:MM:SS`, for ETAs.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_line_is_stable() {
        let l = TrainLine {
            epoch: 1,
            step: 50,
            total_steps: 750,
            loss: 2.34567,
            lr: 4.8e-5,
            samples_per_s: 123.45,
            eta: format_duration(192.0),
            allreduce_share: None,
        };
        assert_eq!(
            l.to_string(),
            "train: epoch=1 step=50/750 loss=2.3457 lr=4.800e-5 samples_per_s=123.5 eta=0:03:12"
        );
        let replicated = TrainLine {
            allreduce_share: Some(0.1234),
            ..l
        };
        assert!(replicated
            .to_string()
            .ends_with(" eta=0:03:12 allreduce_share=0.123"));
    }

    #[test]
    fn eval_line_is_stable() {
        let l = EvalLine {
            split: "eval",
            epoch: 2,
            step: 250,
            precision: 0.81234,
            recall: 0.8011,
            f1: 0.80668,
            loss: Some(0.1234),
            token_macro_f1: None,
        };
        assert_eq!(
            l.to_string(),
            "eval: epoch=2 step=250 entity_precision=0.8123 entity_recall=0.8011 entity_f1=0.8067 loss=0.1234"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(3725.4), "1:02:05");
        assert_eq!(format_duration(-3.0), "0:00:00");
    }
}
