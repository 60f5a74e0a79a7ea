//! The settings a trained model is saved with because tagging must repeat them, and their defaults,
//! which are also the training job's.

/// How the model was trained to see text: the windows it read and the decoding it was scored with.
/// Saved with the model (in its `hyperparameters.json`); a model without them (an HF export) gets
/// these defaults, the training job's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelSettings {
    /// Pieces per window including `[CLS]` and `[SEP]`.
    pub max_seq_length: usize,
    /// Units of overlap between consecutive windows of a longer sentence.
    pub window_stride: usize,
    pub do_lower_case: bool,
    /// Forbid `O → I-X` and `B-X → I-Y` transitions when decoding.
    pub bio_constraints: bool,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            max_seq_length: 128,
            window_stride: 32,
            do_lower_case: true,
            bio_constraints: true,
        }
    }
}
