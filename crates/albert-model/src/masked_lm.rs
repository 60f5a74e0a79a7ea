//! Masked-language-model pre-training of a transformer encoder (`task=pretrain`): the encoder under its
//! family's prefix and the MLM head as that family's `*ForMaskedLM` names it, its decoder tied to the
//! word embeddings, so the VarStore is HF's `AlbertForMaskedLM` / `BertForMaskedLM` state dict; with
//! ALBERT's sentence-order prediction, also its pooler and SOP classifier: `AlbertForPreTraining`'s.

use ner_settings::Encoder;
use tch::{nn, Kind, Tensor};

use crate::activation::Activation;
use crate::config::AlbertConfig;
use crate::encoder_spec::EncoderSpec;
use crate::error::{ModelError, Result};
use crate::layer::sub;
use crate::params::{var, LayerNorm, Linear, ParamGroup, Part};
use crate::sentence_order_head::SentenceOrderHead;
use crate::tagger_encoder::TaggerEncoder;
use crate::transformer::TransformerConfig;

/// The label of a position that is not predicted (HF's `ignore_index`).
pub const IGNORED_LABEL: i64 = -100;

/// Where the MLM head's variables live, as a family's `*ForMaskedLM` names them.
pub(crate) struct HeadNames {
    dense: &'static [&'static str],
    layer_norm: &'static [&'static str],
    /// The module holding the output `bias` (the decoder's, tied).
    bias_owner: &'static [&'static str],
}

impl HeadNames {
    /// The head of the `family` (`Encoder::Albert` or `Encoder::Bert`) encoder.
    pub(crate) fn of(family: Encoder) -> &'static HeadNames {
        match family {
            Encoder::Bert => &BERT_HEAD,
            _ => &ALBERT_HEAD,
        }
    }

    /// The dense layer's `weight` or `bias`, as a variable name.
    pub(crate) fn dense(&self, leaf: &str) -> String {
        format!("{}.{leaf}", self.dense.join("."))
    }

    /// The LayerNorm's `weight` or `bias`, as a variable name.
    pub(crate) fn layer_norm(&self, leaf: &str) -> String {
        format!("{}.{leaf}", self.layer_norm.join("."))
    }

    /// The output bias, as a variable name.
    pub(crate) fn bias(&self) -> String {
        format!("{}.bias", self.bias_owner.join("."))
    }
}

/// HF `AlbertMLMHead`: `predictions.{dense,LayerNorm,bias}`, hidden → embedding size.
const ALBERT_HEAD: HeadNames = HeadNames {
    dense: &["predictions", "dense"],
    layer_norm: &["predictions", "LayerNorm"],
    bias_owner: &["predictions"],
};

/// HF `BertOnlyMLMHead`: `cls.predictions.transform.{dense,LayerNorm}`, `cls.predictions.bias`.
const BERT_HEAD: HeadNames = HeadNames {
    dense: &["cls", "predictions", "transform", "dense"],
    layer_norm: &["cls", "predictions", "transform", "LayerNorm"],
    bias_owner: &["cls", "predictions"],
};

/// dense → activation → LayerNorm → the word embeddings' transpose + bias.
#[derive(Debug)]
struct MlmHead {
    dense: Linear,
    activation: Activation,
    layer_norm: LayerNorm,
    bias: Tensor,
}

impl MlmHead {
    fn new(root: &nn::Path, names: &HeadNames, c: &AlbertConfig) -> Self {
        MlmHead {
            dense: Linear::new(
                &sub(root, names.dense),
                c.hidden_size,
                c.embedding_size,
                c.initializer_range,
                Part::Head,
            ),
            activation: c.hidden_act,
            layer_norm: LayerNorm::new(
                &sub(root, names.layer_norm),
                c.embedding_size,
                c.layer_norm_eps,
                Part::Head,
            ),
            bias: var(
                &sub(root, names.bias_owner),
                "bias",
                &[c.vocab_size],
                nn::Init::Const(0.0),
                ParamGroup::new(Part::Head, false),
            ),
        }
    }

    /// `[N, H]` states → `[N, V]` vocabulary scores.
    fn forward(&self, states: &Tensor, word_embeddings: &Tensor) -> Tensor {
        let xs = self
            .layer_norm
            .forward(&self.activation.apply(&self.dense.forward(states)));
        xs.linear(word_embeddings, Some(&self.bias))
    }
}

/// A transformer encoder with its MLM head (and, for ALBERT if asked, the sentence-order head).
#[derive(Debug)]
pub struct MaskedLm {
    encoder: TaggerEncoder,
    head: MlmHead,
    sentence_order: Option<SentenceOrderHead>,
    config: TransformerConfig,
}

/// A masked batch, `[B, T]` each.
#[derive(Debug, Clone, Copy)]
pub struct MlmBatch<'a> {
    pub input_ids: &'a Tensor,
    pub attention_mask: &'a Tensor,
    /// The original id where a piece is predicted, [`IGNORED_LABEL`] elsewhere.
    pub labels: &'a Tensor,
    /// Segment of each position (sentence order): 0, then 1; `None` is all zeros.
    pub token_type_ids: Option<&'a Tensor>,
    /// `[B]`: 0 in order, 1 swapped, [`IGNORED_LABEL`] for no pair; read by a sentence-order head.
    pub sentence_order_labels: Option<&'a Tensor>,
}

/// One batch's loss and what the logs report of it.
#[derive(Debug)]
pub struct MlmOutput {
    /// Mean cross-entropy over the predicted positions (a scalar with a graph when training).
    pub loss: Tensor,
    /// Predicted positions.
    pub predicted: i64,
    /// Of those, how many the model's top score got right.
    pub correct: i64,
    /// The sentence-order loss, with a sentence-order head and labels.
    pub sentence_order: Option<SentenceOrderOutput>,
}

/// The sentence-order part of a batch's loss. HF's `AlbertForPreTraining` loss is `loss + this.loss`.
#[derive(Debug)]
pub struct SentenceOrderOutput {
    /// Mean cross-entropy over the labelled sequences.
    pub loss: Tensor,
    /// Sequences with a label (a pair of segments).
    pub labelled: i64,
    pub correct: i64,
}

impl MaskedLm {
    /// Creates the encoder (`albert.*` / `bert.*`) and the head (`predictions.*` / `cls.predictions.*`)
    /// under `root`. The encoder's variables are in [`Part::Encoder`], the head's in [`Part::Head`].
    pub fn new(root: &nn::Path, config: &TransformerConfig) -> Self {
        let same = match config {
            TransformerConfig::Albert(a) => a.clone(),
            TransformerConfig::Bert(b) => b.as_albert(),
        };
        MaskedLm {
            encoder: TaggerEncoder::new(root, &EncoderSpec::from(config.clone())),
            head: MlmHead::new(root, HeadNames::of(config.encoder()), &same),
            sentence_order: None,
            config: config.clone(),
        }
    }

    /// [`Self::new`] with ALBERT's sentence-order head (`albert.pooler`, `sop_classifier`); a BERT
    /// encoder is refused (its pre-training task, next-sentence prediction, is not offered).
    pub fn with_sentence_order(root: &nn::Path, config: &TransformerConfig) -> Result<Self> {
        let TransformerConfig::Albert(albert) = config else {
            return Err(ModelError::config(
                None,
                "sentence-order prediction is ALBERT's pre-training task; a BERT encoder has none \
                 (set sentence_order_prediction=false)",
            ));
        };
        let mut mlm = Self::new(root, config);
        mlm.sentence_order = Some(SentenceOrderHead::new(root, albert));
        Ok(mlm)
    }

    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    pub fn has_sentence_order(&self) -> bool {
        self.sentence_order.is_some()
    }

    /// The transformers class of the saved model: `*ForMaskedLM`, or `AlbertForPreTraining` with
    /// the sentence-order head.
    pub fn architecture(&self) -> String {
        let task = if self.has_sentence_order() {
            "PreTraining"
        } else {
            "MaskedLM"
        };
        format!("{}For{task}", self.config.view().class_stem())
    }

    /// `[B, T, V]` vocabulary scores at every position, as HF's `*ForMaskedLM` returns them.
    pub fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let states = self.encoder.forward(input_ids, attention_mask, train);
        self.head.forward(&states, self.word_embeddings())
    }

    /// The loss over the positions whose `labels` (the original token id) are not
    /// [`IGNORED_LABEL`]: HF's `*ForMaskedLM` loss. Only those positions go through the head, the
    /// vocabulary-sized product being most of the head's cost. With a sentence-order head and
    /// labels, also that loss.
    pub fn forward(&self, batch: &MlmBatch, train: bool) -> MlmOutput {
        let states = self.encoder.forward_segments(
            batch.input_ids,
            batch.attention_mask,
            batch.token_type_ids,
            train,
        );
        let sentence_order = match (&self.sentence_order, batch.sentence_order_labels) {
            (Some(head), Some(labels)) => Some(sentence_order_loss(
                &head.forward(&states, train).to_kind(Kind::Float),
                labels,
            )),
            _ => None,
        };
        let labels = batch.labels;
        let hidden = *states.size().last().expect("[B, T, H] states");
        let picked = labels.ne(IGNORED_LABEL).view([-1]).nonzero().view([-1]);
        let targets = labels.view([-1]).index_select(0, &picked);
        let scores = self
            .head
            .forward(
                &states.view([-1, hidden]).index_select(0, &picked),
                self.word_embeddings(),
            )
            .to_kind(Kind::Float);
        let (loss, correct) = scored(&scores, &targets);
        MlmOutput {
            loss,
            predicted: targets.size()[0],
            correct,
            sentence_order,
        }
    }

    fn word_embeddings(&self) -> &Tensor {
        self.encoder
            .word_embeddings()
            .expect("a masked LM's encoder is a transformer")
    }
}

/// Cross-entropy of `scores` `[B, 2]` over the sequences whose label is not [`IGNORED_LABEL`].
fn sentence_order_loss(scores: &Tensor, labels: &Tensor) -> SentenceOrderOutput {
    let picked = labels.ne(IGNORED_LABEL).nonzero().view([-1]);
    let targets = labels.index_select(0, &picked);
    let scores = scores.index_select(0, &picked);
    let (loss, correct) = scored(&scores, &targets);
    SentenceOrderOutput {
        loss,
        labelled: targets.size()[0],
        correct,
    }
}

/// Mean cross-entropy of `scores` `[N, C]` against `targets` `[N]`, and how many top scores are the
/// target. With nothing to score, a zero that still reaches every variable's gradient (as 0).
fn scored(scores: &Tensor, targets: &Tensor) -> (Tensor, i64) {
    let loss = if targets.size()[0] == 0 {
        scores.sum(Kind::Float) * 0.0
    } else {
        scores.cross_entropy_for_logits(targets)
    };
    let correct = tch::no_grad(|| scores.argmax(-1, false).eq_tensor(targets).sum(Kind::Int64));
    (loss, i64::try_from(&correct).unwrap_or(0))
}
