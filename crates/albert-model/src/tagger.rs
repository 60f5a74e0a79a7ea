//! The NER model: an encoder (ALBERT, a character BiLSTM, or ALBERT then a BiLSTM), a linear classifier
//! over the first piece of each unit, and a CRF or softmax head.

pub use ner_settings::Head;
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::crf::{Crf, TransitionConstraints};
use crate::embeddings::dropout;
use crate::encoder_spec::EncoderSpec;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::model::AlbertModel;
use crate::params::{Linear, Part};
use crate::tagger_encoder::TaggerEncoder;

/// Everything needed to rebuild a tagger's variables: saved into `config.json` next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaggerSpec {
    pub encoder: EncoderSpec,
    /// Tag names by id; the order fixes the classifier's output columns.
    pub labels: Vec<String>,
    pub head: Head,
}

/// Encoder + `classifier` + optional `crf`, with variables named as HF and PyTorch save them (`albert.*`,
/// `embedding.weight`, `lstm.weight_ih_l0`…, `classifier.{weight,bias}`,
/// `crf.{start_transitions,end_transitions,transitions}`).
///
/// Tags live on *units*, not tokens: the caller says which token carries each unit's tag
/// (`tag_positions`), so [CLS]/[SEP], padding and continuation word pieces never enter the loss or the
/// CRF's transitions.
#[derive(Debug)]
pub struct NerTagger {
    encoder: TaggerEncoder,
    classifier: Linear,
    crf: Option<Crf>,
    bio: TransitionConstraints,
    head: Head,
    classifier_dropout: f64,
    /// What the linear layers compute in: fp32 unless converted for inference.
    weights: InferenceWeights,
}

impl NerTagger {
    /// Creates all variables under `root` (normally `vs.root()`), each in the
    /// [`crate::ParamGroup`] its module declares.
    ///
    /// # Panics
    /// If `spec.labels` is empty.
    pub fn new(root: &nn::Path, spec: &TaggerSpec) -> Self {
        let k = spec.labels.len() as i64;
        assert!(k > 0, "a tagger needs at least one label");
        let encoder = TaggerEncoder::new(root, &spec.encoder);
        let classifier = Linear::new(
            &(root / "classifier"),
            spec.encoder.output_size(),
            k,
            spec.encoder.initializer_range(),
            Part::Head,
        );
        let crf = match spec.head {
            Head::Crf => Some(Crf::new(&(root / "crf"), k)),
            Head::Softmax => None,
        };
        NerTagger {
            encoder,
            classifier,
            crf,
            bio: TransitionConstraints::bio(&spec.labels),
            head: spec.head,
            classifier_dropout: spec.encoder.classifier_dropout(),
            weights: InferenceWeights::Fp32,
        }
    }

    /// Converts the encoder's and the classifier's linear layers once, for inference only, to `form`
    /// (embeddings, LayerNorm, the LSTM and the CRF stay float32; emissions are float32 in every form).
    /// A converted tagger must not be trained: its converted weights no longer follow the variables.
    pub fn convert_linear_layers(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        self.encoder.convert(form)?;
        self.classifier.convert(form)?;
        self.weights = form;
        Ok(())
    }

    /// What the linear layers compute in ([`Self::convert_linear_layers`]).
    pub fn inference_weights(&self) -> InferenceWeights {
        self.weights
    }

    pub fn head(&self) -> Head {
        self.head
    }

    /// K, the width of the emissions.
    pub fn num_labels(&self) -> i64 {
        self.classifier.bias.size()[0]
    }

    /// ALBERT, when the encoder has it (e.g. to compare hidden states with HF).
    pub fn albert(&self) -> Option<&AlbertModel> {
        self.encoder.albert()
    }

    pub fn encoder(&self) -> &TaggerEncoder {
        &self.encoder
    }

    /// The encoder, to change its variables' values (pretrained character vectors).
    pub fn encoder_mut(&mut self) -> &mut TaggerEncoder {
        &mut self.encoder
    }

    /// The CRF when the head is [`Head::Crf`] (for log-likelihoods rather than the mean loss).
    pub fn crf(&self) -> Option<&Crf> {
        self.crf.as_ref()
    }

    /// Final encoder states [B,T,H] for `input_ids` [B,T] and `attention_mask` [B,T] (0/1 or bool).
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Tensor {
        self.encoder.forward(input_ids, attention_mask, train)
    }

    /// Per-unit tag scores [B,L,K].
    ///
    /// `tag_positions` [B,L] i64 indexes the token axis of each row (the first piece of each unit);
    /// entries beyond a row's units may hold any valid index (0 is fine): their scores are computed
    /// and then ignored through `tag_mask` by [`Self::loss`] and [`Self::decode`]. With `train`,
    /// dropout runs in the encoder and (with `classifier_dropout_prob`) before the classifier.
    pub fn emissions(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        tag_positions: &Tensor,
        train: bool,
    ) -> Tensor {
        let hidden = self.hidden_states(input_ids, attention_mask, train);
        let (b, l) = tag_positions.size2().expect("tag_positions must be [B, L]");
        let h = hidden.size()[2];
        let index = tag_positions
            .to_kind(Kind::Int64)
            .unsqueeze(-1)
            .expand([b, l, h], false);
        let units = hidden.gather(1, &index, false);
        let units = dropout(&units, self.classifier_dropout, train);
        let emissions = self.classifier.forward(&units);
        match self.weights {
            InferenceWeights::Bf16 => emissions.to_kind(Kind::Float),
            InferenceWeights::Fp32 | InferenceWeights::Int8 => emissions,
        }
    }

    /// Tag scores of every token, `[B, T, K]`, in inference (no dropout): [`Self::emissions`] with
    /// the choice of units left to the caller, which reads a unit's scores at its first piece. What an
    /// exported network computes: its only inputs are the ids and the mask, and no shape is taken as a
    /// number, so a trace of it runs on any batch size and length.
    pub fn token_emissions(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Tensor {
        let hidden = self.hidden_states(input_ids, attention_mask, false);
        self.classifier.forward(&hidden)
    }

    /// Training loss, a float32 scalar: the mean over sentences of each sentence's loss over its
    /// masked units — the CRF's negative log-likelihood, or for softmax the *sum* of per-unit
    /// cross-entropies (so both heads' losses have the same scale, nats per sentence).
    ///
    /// `tags` [B,L] integer (values at masked-out positions are ignored, -100 is fine); `tag_mask` [B,L]
    /// bool or 0/1, left-aligned with at least one unit per row.
    pub fn loss(&self, emissions: &Tensor, tags: &Tensor, tag_mask: &Tensor) -> Tensor {
        match &self.crf {
            Some(crf) => crf.nll(emissions, tags, tag_mask),
            None => {
                let mask = as_bool(tag_mask);
                let tags = tags
                    .to_kind(Kind::Int64)
                    .masked_fill(&mask.logical_not(), 0);
                let logp = emissions
                    .log_softmax(-1, Kind::Float)
                    .gather(-1, &tags.unsqueeze(-1), false)
                    .squeeze_dim(-1);
                let per_sentence =
                    (logp * mask.to_kind(Kind::Float)).sum_dim_intlist(1, false, Kind::Float);
                -per_sentence.mean(Kind::Float)
            }
        }
    }

    /// Each unit's probability of each tag, `[B, L, K]` float32: the CRF's marginals
    /// ([`Crf::marginals`]) or the softmax head's per-unit distribution. A decoded tag's entry is the
    /// model's confidence in it (served as an entity's score).
    pub fn tag_probabilities(&self, emissions: &Tensor, tag_mask: &Tensor) -> Tensor {
        match &self.crf {
            Some(crf) => crf.marginals(emissions, tag_mask),
            None => tch::no_grad(|| {
                emissions.softmax(-1, Kind::Float)
                    * as_bool(tag_mask).unsqueeze(-1).to_kind(Kind::Float)
            }),
        }
    }

    /// Best tag ids per row, each of length `tag_mask[b].sum()`.
    ///
    /// CRF: Viterbi, with `bio_constraints` forbidding transitions no BIO reading accepts (start→I-X,
    /// O→I-X, B-X→I-Y). Softmax: per-unit argmax, as the replaced system did; with `bio_constraints`
    /// it is instead the most probable *valid* BIO sequence under the per-unit probabilities (Viterbi
    /// over log-softmax scores with zero transition scores), which equals the argmax whenever the
    /// argmax is valid.
    pub fn decode(
        &self,
        emissions: &Tensor,
        tag_mask: &Tensor,
        bio_constraints: bool,
    ) -> Vec<Vec<i64>> {
        match (&self.crf, bio_constraints) {
            (Some(crf), _) => crf.decode(emissions, tag_mask, bio_constraints.then_some(&self.bio)),
            (None, true) => tch::no_grad(|| {
                let vs = nn::VarStore::new(emissions.device());
                let k = emissions
                    .size()
                    .last()
                    .copied()
                    .expect("emissions must be [B, L, K]");
                let uniform = Crf::new(&vs.root(), k);
                for (_, mut v) in vs.variables() {
                    let _ = v.zero_();
                }
                uniform.decode(
                    &emissions.log_softmax(-1, Kind::Float),
                    tag_mask,
                    Some(&self.bio),
                )
            }),
            (None, false) => tch::no_grad(|| {
                let (b, l) = tag_mask.size2().expect("tag_mask must be [B, L]");
                let best = emissions.argmax(-1, false).to_device(tch::Device::Cpu);
                let mask = as_bool(tag_mask).to_device(tch::Device::Cpu);
                let best = Vec::<i64>::try_from(best.reshape([-1])).expect("i64 argmax");
                let mask = Vec::<bool>::try_from(mask.reshape([-1])).expect("bool mask");
                (0..b as usize)
                    .map(|r| {
                        let row = r * l as usize..(r + 1) * l as usize;
                        best[row.clone()]
                            .iter()
                            .zip(&mask[row])
                            .filter(|(_, m)| **m)
                            .map(|(t, _)| *t)
                            .collect()
                    })
                    .collect()
            }),
        }
    }
}

fn as_bool(mask: &Tensor) -> Tensor {
    if mask.kind() == Kind::Bool {
        mask.shallow_clone()
    } else {
        mask.ne(0)
    }
}
