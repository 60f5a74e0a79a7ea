//! The optimisation settings of a training run, as the hyperparameters name them. The training job's
//! hyperparameters hold this struct, and the trainer takes it as it is: one definition, one set of
//! defaults.

use serde::Serialize;

/// How the trainer optimises, evaluates and checkpoints. Field names are the hyperparameters'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSettings {
    pub num_train_epochs: f64,
    /// Stop after this many optimiser steps (0: by epochs).
    pub max_steps: usize,
    /// Stop at the first step boundary after this many seconds of training, counted across resumed
    /// runs (0: no limit); then evaluate, keep the best model and score the test data. The
    /// learning-rate schedule still follows the step count, so set `max_steps` to what fits for a
    /// full decay. Ends a job well before SageMaker's `max_run` kills it.
    pub max_train_seconds: f64,
    pub train_batch_size: usize,
    pub eval_batch_size: usize,
    pub learning_rate: f64,
    /// CRF and classifier learn at `learning_rate × this` (they start from scratch).
    pub crf_learning_rate_multiplier: f64,
    /// The BiLSTM learns at `learning_rate × this`; by default 1 when it is the whole encoder
    /// (`bilstm`) and `crf_learning_rate_multiplier` when it is new over ALBERT (`albert_bilstm`).
    pub lstm_learning_rate_multiplier: f64,
    pub weight_decay: f64,
    pub warmup_proportion: f64,
    /// 0 = no clipping.
    pub max_grad_norm: f64,
    pub gradient_accumulation_steps: usize,
    pub seed: u64,
    /// 0 = no periodic training-loss lines.
    pub logging_steps: usize,
    /// Evaluate every N optimiser steps (0: once per epoch).
    pub eval_steps: usize,
    /// Evaluations without a better F1 before stopping; 0 = never stop early.
    pub early_stopping_patience: usize,
    /// A resumable checkpoint every N optimiser steps (0: none but the final one).
    pub save_checkpoints_steps: usize,
    pub keep_checkpoints: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            num_train_epochs: 3.0,
            max_steps: 0,
            max_train_seconds: 0.0,
            train_batch_size: 32,
            eval_batch_size: 64,
            learning_rate: 5e-5,
            crf_learning_rate_multiplier: 100.0,
            lstm_learning_rate_multiplier: 1.0,
            weight_decay: 0.01,
            warmup_proportion: 0.1,
            max_grad_norm: 1.0,
            gradient_accumulation_steps: 1,
            seed: 42,
            logging_steps: 50,
            eval_steps: 0,
            early_stopping_patience: 0,
            save_checkpoints_steps: 1000,
            keep_checkpoints: 2,
        }
    }
}
