//! Whole-word masking: of a sequence's words, chosen in random order, as many as make up `rate` of its
//! pieces (at least one word); each chosen piece is predicted, shown as `[MASK]` 80% of the time, a
//! random token 10% and itself 10%, as BERT and HF's `DataCollatorForWholeWordMask` do. `[CLS]`,
//! `[SEP]` and padding are never chosen. The draw is a function of (seed, sequence index) alone, so a
//! resumed or data-parallel run masks each sequence as a single uninterrupted run would.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::packing::PackedSequence;
use super::sentence_order::{SegmentPair, SentenceOrder};

/// The label of a position that is not predicted.
pub const IGNORED: i64 = -100;

/// How sequences are masked.
#[derive(Clone, Debug)]
pub struct Masking {
    /// Share of a sequence's pieces to predict (0.15).
    pub rate: f64,
    pub mask_id: i64,
    pub vocab_size: i64,
    /// Ids a random replacement never takes (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`).
    pub special_ids: Vec<i64>,
    pub seed: u64,
    /// Sentence-order prediction: each sequence cut into two segments first (ALBERT).
    pub sentence_order: Option<SentenceOrder>,
}

/// A masked sequence: what the model reads, and the original id where it must predict one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedSequence {
    pub input_ids: Vec<i64>,
    /// [`IGNORED`] except at predicted positions.
    pub labels: Vec<i64>,
    /// 0 for the first segment (and every position without sentence order), 1 for the second.
    pub token_type_ids: Vec<i64>,
    /// 0 in order, 1 swapped, [`IGNORED`] without sentence order or a cut.
    pub sentence_order_label: i64,
}

impl Masking {
    /// Masks `sequence`, the `index`-th of the stream.
    pub fn mask(&self, sequence: &PackedSequence, index: u64) -> MaskedSequence {
        let mut rng =
            ChaCha12Rng::seed_from_u64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let pair = match &self.sentence_order {
            Some(order) => order.pair(sequence, &mut rng),
            None => SegmentPair {
                sequence: sequence.clone(),
                token_type_ids: vec![0; sequence.ids.len()],
                label: IGNORED,
            },
        };
        let sequence = &pair.sequence;
        let pieces: usize = sequence.words.iter().map(|w| w.len()).sum();
        let target = ((pieces as f64 * self.rate).round() as usize).max(1);
        let mut order: Vec<usize> = (0..sequence.words.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let mut chosen = Vec::new();
        let mut covered = 0;
        for &w in &order {
            let len = sequence.words[w].len();
            if covered + len <= target {
                chosen.push(w);
                covered += len;
            }
            if covered == target {
                break;
            }
        }
        if chosen.is_empty() {
            // Every word is longer than the target: predict one anyway.
            chosen.extend(order.first());
        }
        let mut out = MaskedSequence {
            input_ids: sequence.ids.clone(),
            labels: vec![IGNORED; sequence.ids.len()],
            token_type_ids: pair.token_type_ids.clone(),
            sentence_order_label: pair.label,
        };
        for w in chosen {
            for pos in sequence.words[w].clone() {
                out.labels[pos] = sequence.ids[pos];
                let draw = unit(&mut rng);
                if draw < 0.8 {
                    out.input_ids[pos] = self.mask_id;
                } else if draw < 0.9 {
                    out.input_ids[pos] = self.random_token(&mut rng);
                }
            }
        }
        out
    }

    fn random_token(&self, rng: &mut ChaCha12Rng) -> i64 {
        loop {
            let id = (rng.next_u64() % self.vocab_size as u64) as i64;
            if !self.special_ids.contains(&id) {
                return id;
            }
        }
    }
}

/// A uniform draw in [0, 1).
fn unit(rng: &mut ChaCha12Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Masked sequences padded to the longest: flat `[B * T]` vectors for tch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedBatch {
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub labels: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    /// One per sequence.
    pub sentence_order_labels: Vec<i64>,
    pub batch_size: usize,
    pub seq_len: usize,
}

/// Pads `sequences` with `pad_id` (labels [`IGNORED`], attention and token type 0) to the longest one.
pub fn collate_masked(sequences: &[MaskedSequence], pad_id: i64) -> MaskedBatch {
    let seq_len = sequences
        .iter()
        .map(|s| s.input_ids.len())
        .max()
        .unwrap_or(0);
    let mut b = MaskedBatch {
        input_ids: Vec::with_capacity(sequences.len() * seq_len),
        attention_mask: Vec::with_capacity(sequences.len() * seq_len),
        labels: Vec::with_capacity(sequences.len() * seq_len),
        token_type_ids: Vec::with_capacity(sequences.len() * seq_len),
        sentence_order_labels: sequences.iter().map(|s| s.sentence_order_label).collect(),
        batch_size: sequences.len(),
        seq_len,
    };
    for s in sequences {
        let pad = seq_len - s.input_ids.len();
        b.input_ids.extend(&s.input_ids);
        b.input_ids.extend(std::iter::repeat_n(pad_id, pad));
        b.attention_mask
            .extend(std::iter::repeat_n(1, s.input_ids.len()));
        b.attention_mask.extend(std::iter::repeat_n(0, pad));
        b.labels.extend(&s.labels);
        b.labels.extend(std::iter::repeat_n(IGNORED, pad));
        b.token_type_ids.extend(&s.token_type_ids);
        b.token_type_ids.extend(std::iter::repeat_n(0, pad));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: i64 = 4;

    fn masking(rate: f64) -> Masking {
        Masking {
            rate,
            mask_id: MASK,
            vocab_size: 50,
            special_ids: vec![0, 1, 2, 3, 4],
            seed: 7,
            sentence_order: None,
        }
    }

    /// `[CLS]`, words of the given lengths (ids 10, 11, …), `[SEP]`.
    fn sequence(lengths: &[usize]) -> PackedSequence {
        let mut s = PackedSequence {
            ids: vec![2],
            words: Vec::new(),
        };
        for &len in lengths {
            let start = s.ids.len();
            s.ids.extend((start..start + len).map(|i| 10 + i as i64));
            s.words.push(start..start + len);
        }
        s.ids.push(3);
        s
    }

    #[test]
    fn whole_words_are_predicted_and_specials_never() {
        let seq = sequence(&[2, 1, 3, 2, 1, 2, 2, 3, 1, 2, 1, 2, 2, 1, 3, 2, 2, 1, 2, 2]);
        for index in 0..200 {
            let m = masking(0.15).mask(&seq, index);
            let predicted: Vec<usize> = (0..seq.ids.len())
                .filter(|&p| m.labels[p] != IGNORED)
                .collect();
            // 37 pieces: 6 predicted (round(5.55)); one-piece words always fill what longer ones
            // leave. Never [CLS] or [SEP].
            assert_eq!(predicted.len(), 6, "{predicted:?}");
            assert!(!predicted.contains(&0) && !predicted.contains(&(seq.ids.len() - 1)));
            for w in &seq.words {
                let hit = w.clone().filter(|p| predicted.contains(p)).count();
                assert!(hit == 0 || hit == w.len(), "word {w:?} partly predicted");
            }
            for &p in &predicted {
                assert_eq!(m.labels[p], seq.ids[p], "the label is the original id");
            }
            for p in (0..seq.ids.len()).filter(|p| !predicted.contains(p)) {
                assert_eq!(
                    m.input_ids[p], seq.ids[p],
                    "only predicted positions change"
                );
            }
        }
    }

    #[test]
    fn predicted_pieces_are_masked_replaced_or_kept_80_10_10() {
        let seq = sequence(&vec![1; 100]);
        let (mut masked, mut replaced, mut kept, mut total) = (0, 0, 0, 0);
        for index in 0..2000 {
            let m = masking(0.15).mask(&seq, index);
            for p in (0..seq.ids.len()).filter(|&p| m.labels[p] != IGNORED) {
                total += 1;
                match m.input_ids[p] {
                    MASK => masked += 1,
                    id if id == seq.ids[p] => kept += 1,
                    id => {
                        assert!(!(0..=4).contains(&id), "a random token is never special");
                        replaced += 1;
                    }
                }
            }
        }
        assert_eq!(total, 2000 * 15);
        let share = |n: usize| n as f64 / total as f64;
        assert!((share(masked) - 0.8).abs() < 0.01, "{}", share(masked));
        // A random token equal to the original (1 in 45) counts as kept.
        assert!((share(replaced) - 0.1).abs() < 0.01, "{}", share(replaced));
        assert!((share(kept) - 0.1).abs() < 0.01, "{}", share(kept));
    }

    #[test]
    fn the_draw_depends_on_seed_and_index_only() {
        let seq = sequence(&[1; 40]);
        let m = masking(0.15);
        assert_eq!(m.mask(&seq, 3), m.mask(&seq, 3));
        assert_ne!(m.mask(&seq, 3), m.mask(&seq, 4));
        let other = Masking {
            seed: 8,
            ..m.clone()
        };
        assert_ne!(m.mask(&seq, 3), other.mask(&seq, 3));
    }

    #[test]
    fn a_sequence_of_one_long_word_still_predicts_it() {
        let seq = sequence(&[5]);
        let m = masking(0.15).mask(&seq, 0);
        assert_eq!(m.labels.iter().filter(|&&l| l != IGNORED).count(), 5);
    }

    #[test]
    fn collation_pads_with_ignored_labels_and_zero_attention() {
        let a = MaskedSequence {
            input_ids: vec![2, 4, 3, 5, 3],
            labels: vec![IGNORED, 9, IGNORED, IGNORED, IGNORED],
            token_type_ids: vec![0, 0, 0, 1, 1],
            sentence_order_label: 1,
        };
        let b = MaskedSequence {
            input_ids: vec![2, 3],
            labels: vec![IGNORED, IGNORED],
            token_type_ids: vec![0, 0],
            sentence_order_label: IGNORED,
        };
        let batch = collate_masked(&[a, b], 0);
        assert_eq!((batch.batch_size, batch.seq_len), (2, 5));
        assert_eq!(batch.input_ids, [2, 4, 3, 5, 3, 2, 3, 0, 0, 0]);
        assert_eq!(batch.attention_mask, [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(
            batch.labels,
            [IGNORED, 9, IGNORED, IGNORED, IGNORED, IGNORED, IGNORED, IGNORED, IGNORED, IGNORED]
        );
        assert_eq!(batch.token_type_ids, [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(batch.sentence_order_labels, [1, IGNORED]);
    }

    #[test]
    fn with_sentence_order_the_pair_is_masked_and_its_separators_never() {
        let seq = sequence(&[1; 30]);
        let m = Masking {
            sentence_order: Some(SentenceOrder {
                sentence_end_ids: vec![],
                sep_id: 3,
            }),
            ..masking(0.15)
        };
        let mut labels = std::collections::BTreeSet::new();
        for index in 0..50 {
            let out = m.mask(&seq, index);
            assert_eq!(out.input_ids.len(), seq.ids.len() + 1, "one [SEP] more");
            let seps: Vec<usize> = (0..out.labels.len())
                .filter(|&p| out.token_type_ids[p] == 0 && out.input_ids[p] == 3)
                .collect();
            assert_eq!(seps.len(), 1, "the first segment ends in its [SEP]");
            assert_eq!(out.labels[seps[0]], IGNORED);
            assert_eq!(out.labels.iter().filter(|&&l| l != IGNORED).count(), 5);
            assert_eq!(out.token_type_ids.last(), Some(&1));
            labels.insert(out.sentence_order_label);
            assert_eq!(out, m.mask(&seq, index), "a function of seed and index");
        }
        assert_eq!(labels, [0, 1].into_iter().collect(), "both orders drawn");
    }
}
