//! Tagging sentences with a model: windows in, one BIO tag per input character out. Shared by
//! evaluation, the test-channel predictions, `predict` and `serve`.

use albert_model::NerTagger;
use ner_data::{collate, Feature, LabelSet, Sentence, Tokenized, Tokenizer};
use tch::Device;

use crate::precision::Precision;
use crate::tensors::BatchTensors;

/// How to run the model for prediction.
#[derive(Debug, Clone, Copy)]
pub struct PredictSettings {
    pub device: Device,
    pub precision: Precision,
    pub bio_constraints: bool,
    /// Also compute the loss against the features' gold tags (evaluation); plain prediction skips the
    /// CRF's forward algorithm.
    pub with_loss: bool,
    /// Also compute each decoded unit's probability ([`NerTagger::tag_probabilities`]): the entities'
    /// scores that `serve` answers with.
    pub with_confidence: bool,
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
    /// Per sentence, each unit's probability of its tag, when `with_confidence` was set (else empty).
    pub unit_confidence: Vec<Vec<f32>>,
}

/// Decodes the features in the batches the caller grouped ([`length_sorted_chunks`],
/// [`token_budget_chunks`]) and merges the windows back into per-character tags, asking `keep_going`
/// before each batch; `None` when it said no (a SIGTERM during a long evaluation must not hold a job past
/// SageMaker's grace period; a server's caller may have given up).
pub fn predict_chunks(
    tagger: &NerTagger,
    labels: &LabelSet,
    data: &Prepared,
    settings: PredictSettings,
    chunks: &[Vec<usize>],
    keep_going: impl FnMut() -> bool,
) -> Option<Predictions> {
    let units = decode_chunks(tagger, data, settings, chunks, keep_going)?;
    let unit_confidence = if settings.with_confidence {
        ner_data::merge_windows(&data.features, &units.confidence, data.tokenized.len())
    } else {
        Vec::new()
    };
    Some(Predictions {
        char_tags: char_tags(labels, data, &units.per_feature),
        mean_loss: units.mean_loss(),
        unit_confidence,
    })
}

/// Unit tag ids per feature, from decoding some or all of a [`Prepared`]'s batches.
pub struct UnitTags {
    /// Per feature, its units' tag ids; empty for a feature no batch held.
    pub per_feature: Vec<Vec<i64>>,
    /// Per feature, its units' probabilities of those tags (with `with_confidence`, else empty).
    pub confidence: Vec<Vec<f32>>,
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
        confidence: vec![Vec::new(); data.features.len()],
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
            if settings.with_confidence {
                let chosen = confidence_of_paths(tagger, &emissions, &t.tag_mask, &paths);
                for (feature, c) in batch.features.iter().zip(chosen) {
                    out.confidence[*feature] = c;
                }
            }
            for (feature, path) in batch.features.iter().zip(paths) {
                out.per_feature[*feature] = path;
            }
        }
        true
    });
    finished.then_some(out)
}

/// Each decoded unit's probability of the tag it was given.
fn confidence_of_paths(
    tagger: &NerTagger,
    emissions: &tch::Tensor,
    tag_mask: &tch::Tensor,
    paths: &[Vec<i64>],
) -> Vec<Vec<f32>> {
    let probabilities = tagger
        .tag_probabilities(emissions, tag_mask)
        .to_device(Device::Cpu);
    let rows =
        Vec::<Vec<Vec<f32>>>::try_from(&probabilities).expect("[B, L, K] float probabilities");
    rows.iter()
        .zip(paths)
        .map(|(row, path)| {
            path.iter()
                .enumerate()
                .map(|(unit, &tag)| row[unit][tag as usize])
                .collect()
        })
        .collect()
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

/// Feature indices grouped by length into batches of at most `max_tokens` padded tokens (rows ×
/// longest row; a window longer than the budget is a batch of its own): what a server batches by, since
/// the cost of a batch is its padded size, not its number of sentences.
pub fn token_budget_chunks(features: &[Feature], max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| features[i].input_ids.len());
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending, so this window is the longest of the batch it joins.
        let padded = (current.len() + 1) * features[i].input_ids.len();
        if !current.is_empty() && padded > max_tokens {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(len: usize) -> Feature {
        Feature {
            sentence: 0,
            input_ids: vec![1; len],
            tag_positions: Vec::new(),
            tags: Vec::new(),
            unit_offset: 0,
            keep: 0..0,
        }
    }

    #[test]
    fn token_budget_chunks_stay_within_the_budget_and_take_every_feature_once() {
        let lengths = [5, 40, 12, 7, 33, 100, 3, 12, 12, 60];
        let features: Vec<Feature> = lengths.iter().map(|&l| feature(l)).collect();
        let chunks = token_budget_chunks(&features, 64);
        let mut seen: Vec<usize> = chunks.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for chunk in &chunks {
            let longest = chunk.iter().map(|&i| lengths[i]).max().unwrap();
            // Only a window longer than the budget may exceed it, alone.
            assert!(chunk.len() * longest <= 64 || chunk.len() == 1, "{chunk:?}");
        }
        // Sorted by length, so short windows share batches: 3, 5, 7, 12, 12 (5 × 12 = 60 ≤ 64).
        assert_eq!(chunks[0], vec![6, 0, 3, 2, 7]);
        assert_eq!(chunks.last().unwrap(), &vec![5]);
    }
}
