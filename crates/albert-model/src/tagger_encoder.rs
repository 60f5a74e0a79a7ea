//! The encoder a [`crate::NerTagger`] holds: token ids in, one feature vector per token out. Each
//! variant owns its modules' names (`albert.*`, `embedding.weight`, `lstm.*`) and parameter groups.

use tch::{nn, Tensor};

use crate::bert::BertModel;
use crate::bilstm::BiLstm;
use crate::char_embeddings::CharEmbeddings;
use crate::embeddings::dropout;
use crate::encoder_spec::EncoderSpec;
use crate::error::ModelError;
use crate::inference_weights::InferenceWeights;
use crate::model::AlbertModel;
use crate::params::Part;

/// The tagger's encoder, built from an [`EncoderSpec`].
#[derive(Debug)]
pub enum TaggerEncoder {
    Albert(AlbertModel),
    Bilstm {
        embedding: CharEmbeddings,
        lstm: BiLstm,
    },
    AlbertBilstm {
        albert: AlbertModel,
        lstm: BiLstm,
    },
    Bert(BertModel),
    BertBilstm {
        bert: BertModel,
        lstm: BiLstm,
    },
}

impl TaggerEncoder {
    /// Creates the variables under `root`: ALBERT under `albert`, BERT under `bert`, the character
    /// table under `embedding`, the LSTM under `lstm` (its own [`Part`], so it can learn at its own
    /// rate).
    pub fn new(root: &nn::Path, spec: &EncoderSpec) -> Self {
        let lstm =
            |input_size, config| BiLstm::new(&(root / "lstm"), input_size, config, Part::Lstm);
        match spec {
            EncoderSpec::Albert(a) => {
                TaggerEncoder::Albert(AlbertModel::new(&(root / "albert"), a))
            }
            EncoderSpec::Bilstm { embedding, lstm: l } => TaggerEncoder::Bilstm {
                embedding: CharEmbeddings::new(&(root / "embedding"), *embedding),
                lstm: lstm(embedding.char_embedding_size, *l),
            },
            EncoderSpec::AlbertBilstm { albert, lstm: l } => TaggerEncoder::AlbertBilstm {
                albert: AlbertModel::new(&(root / "albert"), albert),
                lstm: lstm(albert.hidden_size, *l),
            },
            EncoderSpec::Bert(b) => TaggerEncoder::Bert(BertModel::new(&(root / "bert"), b)),
            EncoderSpec::BertBilstm { bert, lstm: l } => TaggerEncoder::BertBilstm {
                bert: BertModel::new(&(root / "bert"), bert),
                lstm: lstm(bert.hidden_size, *l),
            },
        }
    }

    /// Converts the transformer's linear layers once to `form` for inference; the character table and
    /// the LSTM stay float32 (libtorch's LSTM runs in its weights' kind, and the BiLSTM's own cost is
    /// its sequential recurrence, which int8 weights would not shorten).
    pub(crate) fn convert(&mut self, form: InferenceWeights) -> Result<(), ModelError> {
        match self {
            TaggerEncoder::Albert(a) | TaggerEncoder::AlbertBilstm { albert: a, .. } => {
                a.convert(form)
            }
            TaggerEncoder::Bert(b) | TaggerEncoder::BertBilstm { bert: b, .. } => b.convert(form),
            TaggerEncoder::Bilstm { .. } => Ok(()),
        }
    }

    /// ALBERT, when the encoder has it.
    pub fn albert(&self) -> Option<&AlbertModel> {
        match self {
            TaggerEncoder::Albert(a) | TaggerEncoder::AlbertBilstm { albert: a, .. } => Some(a),
            _ => None,
        }
    }

    /// The transformer's word-embedding table (`[V, E]`), when the encoder has a transformer: what a
    /// masked LM's decoder is tied to.
    pub(crate) fn word_embeddings(&self) -> Option<&Tensor> {
        match self {
            TaggerEncoder::Albert(a) | TaggerEncoder::AlbertBilstm { albert: a, .. } => {
                Some(&a.embeddings.word_embeddings)
            }
            TaggerEncoder::Bert(b) | TaggerEncoder::BertBilstm { bert: b, .. } => {
                Some(b.word_embeddings())
            }
            TaggerEncoder::Bilstm { .. } => None,
        }
    }

    /// The character table, when the encoder has one (to load pretrained vectors into).
    pub fn char_embeddings_mut(&mut self) -> Option<&mut CharEmbeddings> {
        match self {
            TaggerEncoder::Bilstm { embedding, .. } => Some(embedding),
            _ => None,
        }
    }

    /// `[B, T, output]` for `input_ids` `[B, T]` and `attention_mask` `[B, T]` (0/1 or bool, real tokens
    /// at the front of each row). With `train`, dropout runs.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        self.forward_segments(input_ids, attention_mask, None, train)
    }

    /// [`Self::forward`] over a pair of segments: `token_type_ids` `[B, T]` (0, then 1) go to the
    /// transformer's token-type embeddings (a BiLSTM alone has none); `None` is all zeros.
    pub(crate) fn forward_segments(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let types = token_type_ids;
        match self {
            TaggerEncoder::Albert(albert) => {
                albert.forward(input_ids, attention_mask, types, train)
            }
            TaggerEncoder::Bilstm { embedding, lstm } => {
                run_lstm(lstm, &embedding.forward(input_ids), attention_mask, train)
            }
            TaggerEncoder::AlbertBilstm { albert, lstm } => {
                let states = albert.forward(input_ids, attention_mask, types, train);
                run_lstm(lstm, &states, attention_mask, train)
            }
            TaggerEncoder::Bert(bert) => bert.forward(input_ids, attention_mask, types, train),
            TaggerEncoder::BertBilstm { bert, lstm } => {
                let states = bert.forward(input_ids, attention_mask, types, train);
                run_lstm(lstm, &states, attention_mask, train)
            }
        }
    }
}

/// The LSTM over each row's real tokens (as the mask marks them), dropout on its input.
fn run_lstm(lstm: &BiLstm, input: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
    // One kind in, whatever autocast made of the input: the LSTM wants its input in its weights' kind
    // (autocast then runs it in reduced precision where it applies).
    let input = dropout(input, lstm.config().dropout, train).to_kind(lstm.kind());
    lstm.forward(&input, attention_mask, train)
}
