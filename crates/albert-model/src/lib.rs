//! Token taggers in tch: an ALBERT or BERT encoder, a character BiLSTM, or a transformer then a BiLSTM, and a linear-chain CRF or
//! softmax head.
//!
//! Variables are named exactly as HF's `AlbertForTokenClassification`-style state dicts
//! (`albert.*`, `classifier.*`, plus `crf.*`), so a `VarStore` maps 1:1 onto `model.safetensors`.
//! See `docs/ARCHITECTURE.md` for the albert_zh folding.
//!
//! Typical use:
//! ```ignore
//! let weights = PretrainedWeights::open(path)?;                 // HF dir / albert_zh ckpt or zip
//! let encoder = EncoderSpec::Albert(weights.config().albert().unwrap().clone());
//! let spec = TaggerSpec { encoder, labels, head: Head::Crf };
//! let mut vs = tch::nn::VarStore::new(device);
//! let tagger = NerTagger::new(&vs.root(), &spec);
//! let report = weights.load_into(&mut vs)?;                     // encoder only; log `report`
//! // Every variable sits in the tch optimizer group of the `ParamGroup` its module declared:
//! let mut opt = tch::nn::AdamW::default().build(&vs, lr)?;
//! for g in ParamGroup::ALL {
//!     opt.set_lr_group(g.index(), if g.part == Part::Head { head_lr } else { lr });
//!     opt.set_weight_decay_group(g.index(), if g.decays { wd } else { 0.0 });
//! }
//! let em = tagger.emissions(&input_ids, &attention_mask, &tag_positions, true);
//! let loss = tagger.loss(&em, &tags, &tag_mask);
//! // ...
//! save_model(out_dir, &vs, &spec, &vocab_path)?;
//! let (vs, tagger, spec, vocab) = load_model(out_dir, device)?;
//! ```

mod activation;
mod atomic_write;
mod attention;
mod bert;
mod bert_config;
mod bilstm;
mod char_embeddings;
mod config;
mod crf;
mod embeddings;
mod encoder;
mod encoder_spec;
mod error;
mod inference_weights;
mod int8_linear;
mod layer;
mod loading;
mod masked_lm;
mod model;
mod params;
mod pretrained;
mod save;
mod sentence_order_head;
mod tagger;
mod tagger_encoder;
mod transformer;

pub use activation::Activation;
pub use atomic_write::{write_atomically, write_bytes_atomically, write_safetensors};
pub use bert::BertModel;
pub use bert_config::BertConfig;
pub use bilstm::{BiLstm, BiLstmConfig};
pub use char_embeddings::{CharEmbeddingConfig, CharEmbeddings};
pub use config::AlbertConfig;
pub use crf::{Crf, TransitionConstraints, ViterbiBackend, FORBIDDEN};
pub use encoder_spec::{Encoder, EncoderSpec, ENCODER_KEY};
pub use error::{ModelError, Result};
pub use inference_weights::InferenceWeights;
pub use int8_linear::int8_supported;
pub use masked_lm::{MaskedLm, MlmBatch, MlmOutput, SentenceOrderOutput, IGNORED_LABEL};
pub use model::AlbertModel;
pub use params::{groups, names_by_group, ParamGroup, Part};
pub use pretrained::{
    plan_tf_load, LoadPlan, LoadReport, Mismatch, PlanTarget, PretrainedWeights, TfLayout,
    WeightsFormat,
};
pub use save::{
    load_model, read_encoder_spec, save_masked_lm, save_model, CONFIG_FILE, MODEL_FILES, VOCAB_FILE,
};
pub use tagger::{Head, NerTagger, TaggerSpec};
pub use tagger_encoder::TaggerEncoder;
pub use transformer::{Transformer, TransformerConfig};
