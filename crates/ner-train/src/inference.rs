//! Tagging sentences with a model: windows in, one BIO tag per input character out. Shared by
//! evaluation, the test-channel predictions and the `predict` binary.

use std::sync::atomic::{AtomicBool, Ordering};

use albert_model::NerTagger;
use ner_data::{collate, Feature, LabelSet, Sentence, Tokenized, Tokenizer};
use tch::Device;

use crate::amp::Precision;
use crate::tensors::BatchTensors;

/// How to run the model for prediction.
#[derive(Debug, Clone, Copy)]
pub struct PredictSettings {
    pub device: Device,
    pub precision: Precision,
    pub batch_size: usize,
    pub bio_constraints: bool,
    /// Also compute the loss against the features' gold tags (evaluation); plain prediction skips the
    /// CRF's forward algorithm.
    pub with_loss: bool,
}

/// Sentences prepared for the model: their tokenisation and windows.
pub struct Prepared {
    pub tokenized: Vec<Tokenized>,
    pub features: Vec<Feature>,
}

impl Prepared {
    /// Tokenises and windows `sentences` (gold tags, if any, become feature tags).
    pub fn new(
        sentences: &[Sentence],
        tokenizer: &Tokenizer,
        labels: &LabelSet,
        max_seq_length: usize,
        stride: usize,
    ) -> Result<Self, ner_data::DataError> {
        let tokenized: Vec<Tokenized> = sentences
            .iter()
            .map(|s| tokenizer.tokenize_sentence(s))
            .collect();
        let features = ner_data::features_of_tokenized(
            sentences,
            &tokenized,
            tokenizer,
            labels,
            max_seq_length,
            stride,
        )?;
        Ok(Self {
            tokenized,
            features,
        })
    }
}

/// Per-character predictions, and the mean loss over the features' gold tags.
pub struct Predictions {
    /// Per sentence, one tag per character.
    pub char_tags: Vec<Vec<String>>,
    /// Mean batch loss when `with_loss` was set, else 0.
    pub mean_loss: f64,
}

/// Decodes every feature and merges the windows back into per-character tags.
pub fn predict(
    tagger: &NerTagger,
    labels: &LabelSet,
    data: &Prepared,
    settings: PredictSettings,
) -> Predictions {
    let never = AtomicBool::new(false);
    predict_unless_stopped(tagger, labels, data, settings, &never)
        .unwrap_or_else(|| unreachable!("nothing raises a local flag"))
}

/// [`predict`] that gives up between batches once `stop` is raised, returning `None`: a SIGTERM that
/// arrives during a long evaluation must not hold the job past SageMaker's 120 s grace period.
pub fn predict_unless_stopped(
    tagger: &NerTagger,
    labels: &LabelSet,
    data: &Prepared,
    settings: PredictSettings,
    stop: &AtomicBool,
) -> Option<Predictions> {
    let chunks = length_sorted_chunks(&data.features, settings.batch_size);
    let units = decode_chunks(tagger, data, settings, &chunks, || {
        !stop.load(Ordering::SeqCst)
    })?;
    Some(Predictions {
        char_tags: char_tags(labels, data, &units.per_feature),
        mean_loss: units.mean_loss(),
    })
}

/// Unit tag ids per feature, from decoding some or all of a [`Prepared`]'s batches.
pub struct UnitTags {
    /// Per feature, its units' tag ids; empty for a feature no batch held.
    pub per_feature: Vec<Vec<i64>>,
    /// Sum of the batches' mean losses (with `with_loss`), and how many batches.
    pub loss_sum: f64,
    pub loss_batches: usize,
}

impl UnitTags {
    /// Mean batch loss, 0 without batches.
    pub fn mean_loss(&self) -> f64 {
        if self.loss_batches > 0 {
            self.loss_sum / self.loss_batches as f64
        } else {
            0.0
        }
    }
}

/// Decodes the features of each chunk (an empty chunk is a step that decodes nothing), asking
/// `keep_going` before each; `None` when it said no.
pub fn decode_chunks(
    tagger: &NerTagger,
    data: &Prepared,
    settings: PredictSettings,
    chunks: &[Vec<usize>],
    mut keep_going: impl FnMut() -> bool,
) -> Option<UnitTags> {
    let mut out = UnitTags {
        per_feature: vec![Vec::new(); data.features.len()],
        loss_sum: 0.0,
        loss_batches: 0,
    };
    let finished = tch::no_grad(|| {
        for indices in chunks {
            if !keep_going() {
                return false;
            }
            if indices.is_empty() {
                continue;
            }
            let batch = collate(&data.features, indices);
            let t = BatchTensors::new(&batch, settings.device);
            let emissions = settings
                .precision
                .autocast(|| {
                    tagger.emissions(&t.input_ids, &t.attention_mask, &t.tag_positions, false)
                })
                .to_kind(tch::Kind::Float);
            if settings.with_loss {
                let loss = tagger.loss(&emissions, &t.tags, &t.tag_mask);
                out.loss_sum += f64::try_from(loss).unwrap_or(f64::NAN);
                out.loss_batches += 1;
            }
            let paths = tagger.decode(&emissions, &t.tag_mask, settings.bio_constraints);
            for (feature, path) in batch.features.iter().zip(paths) {
                out.per_feature[*feature] = path;
            }
        }
        true
    });
    finished.then_some(out)
}

/// Merges the windows' unit tags back into one tag per input character, per sentence.
pub fn char_tags(labels: &LabelSet, data: &Prepared, per_feature: &[Vec<i64>]) -> Vec<Vec<String>> {
    let per_sentence = ner_data::merge_windows(&data.features, per_feature, data.tokenized.len());
    per_sentence
        .iter()
        .zip(&data.tokenized)
        .map(|(tags, tok)| {
            let names: Vec<String> = tags.iter().map(|&id| labels.name(id).to_string()).collect();
            ner_data::units_to_char_tags(&names, &tok.units)
        })
        .collect()
}

/// Feature indices grouped into batches of similar length, so evaluation pads little.
pub fn length_sorted_chunks(features: &[Feature], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| features[i].input_ids.len());
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}
