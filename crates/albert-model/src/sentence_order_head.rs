//! ALBERT's sentence-order prediction head, as HF's `AlbertForPreTraining` holds it: the pooler
//! (`albert.pooler`: tanh of a dense layer over `[CLS]`'s state) and `sop_classifier.classifier` (two
//! classes: the segments in order, swapped). Both are new to a masked LM that lacked them, so both are
//! in [`Part::Head`].

use tch::{nn, Tensor};

use crate::config::AlbertConfig;
use crate::embeddings::dropout;
use crate::params::{Linear, Part};

/// The variables' names: the pooler under the encoder's `albert.` prefix, the classifier beside it.
const POOLER: [&str; 2] = ["albert", "pooler"];
const CLASSIFIER: [&str; 2] = ["sop_classifier", "classifier"];

/// Whether `name` (a VarStore's or an HF checkpoint's) is a variable of this head.
pub(crate) fn is_sentence_order_variable(name: &str) -> bool {
    [&POOLER, &CLASSIFIER]
        .iter()
        .any(|path| name.starts_with(&format!("{}.", path.join("."))))
}

#[derive(Debug)]
pub(crate) struct SentenceOrderHead {
    pooler: Linear,
    classifier: Linear,
    dropout: f64,
}

impl SentenceOrderHead {
    pub(crate) fn new(root: &nn::Path, c: &AlbertConfig) -> Self {
        let h = c.hidden_size;
        let path = |names: [&str; 2]| root / names[0] / names[1];
        SentenceOrderHead {
            pooler: Linear::new(&path(POOLER), h, h, c.initializer_range, Part::Head),
            classifier: Linear::new(&path(CLASSIFIER), h, 2, c.initializer_range, Part::Head),
            dropout: c.classifier_dropout_prob.unwrap_or(0.1),
        }
    }

    /// `[B, T, H]` states → `[B, 2]` scores (in order, swapped).
    pub(crate) fn forward(&self, states: &Tensor, train: bool) -> Tensor {
        let pooled = self.pooler.forward(&states.select(1, 0)).tanh();
        self.classifier
            .forward(&dropout(&pooled, self.dropout, train))
    }
}
