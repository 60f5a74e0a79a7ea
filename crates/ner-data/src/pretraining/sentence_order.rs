//! ALBERT's sentence-order prediction (SOP): a sequence of one document's consecutive text is cut into
//! two segments, at a sentence's end where it holds one (else at a word's end), and the segments are
//! given in their order or swapped, half the time each; the model learns to tell which. Laid out as
//! ALBERT's pre-training data lays it out: `[CLS] A [SEP] B [SEP]`, token types 0 up to the first
//! `[SEP]` and 1 after it, label 0 in order and 1 swapped.

use rand_chacha::rand_core::RngCore;

use super::masking::IGNORED;
use super::packing::PackedSequence;

/// How sequences are cut into segment pairs.
#[derive(Clone, Debug)]
pub struct SentenceOrder {
    /// Pieces that end a sentence (`。`, `！`, `？`, …): a cut after one is preferred.
    pub sentence_end_ids: Vec<i64>,
    pub sep_id: i64,
}

/// A sequence as two segments, or as it was when it holds a single word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPair {
    pub sequence: PackedSequence,
    pub token_type_ids: Vec<i64>,
    /// 0 in order, 1 swapped; [`IGNORED`] when the sequence was not cut.
    pub label: i64,
}

impl SentenceOrder {
    /// Cuts `sequence` (`[CLS]`, whole words, `[SEP]`, as [`super::SequenceLayout::SegmentPairs`]
    /// packs it, a piece short) with draws from `rng`.
    pub fn pair(&self, sequence: &PackedSequence, rng: &mut impl RngCore) -> SegmentPair {
        let words = &sequence.words;
        if words.len() < 2 {
            return SegmentPair {
                sequence: sequence.clone(),
                token_type_ids: vec![0; sequence.ids.len()],
                label: IGNORED,
            };
        }
        let at_sentence_end: Vec<usize> = (1..words.len())
            .filter(|&k| {
                let last = words[k - 1].end - 1;
                self.sentence_end_ids.contains(&sequence.ids[last])
            })
            .collect();
        let cuts: Vec<usize> = if at_sentence_end.is_empty() {
            (1..words.len()).collect()
        } else {
            at_sentence_end
        };
        let cut = cuts[(rng.next_u64() % cuts.len() as u64) as usize];
        let swapped = rng.next_u64() & 1 == 1;
        let (a, b) = (&words[..cut], &words[cut..]);
        let (first, second) = if swapped { (b, a) } else { (a, b) };

        let mut out = PackedSequence {
            ids: vec![sequence.ids[0]],
            words: Vec::with_capacity(words.len()),
        };
        let mut token_type_ids = vec![0];
        for (segment, token_type) in [(first, 0), (second, 1)] {
            for w in segment {
                let start = out.ids.len();
                out.ids.extend_from_slice(&sequence.ids[w.clone()]);
                out.words.push(start..out.ids.len());
            }
            out.ids.push(self.sep_id);
            token_type_ids.resize(out.ids.len(), token_type);
        }
        SegmentPair {
            sequence: out,
            token_type_ids,
            label: i64::from(swapped),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    use super::*;

    const CLS: i64 = 2;
    const SEP: i64 = 3;
    const STOP: i64 = 9;

    /// `[CLS]`, one-piece words with the given ids, `[SEP]`.
    fn sequence(ids: &[i64]) -> PackedSequence {
        let mut s = PackedSequence {
            ids: vec![CLS],
            words: Vec::new(),
        };
        for &id in ids {
            s.words.push(s.ids.len()..s.ids.len() + 1);
            s.ids.push(id);
        }
        s.ids.push(SEP);
        s
    }

    fn order() -> SentenceOrder {
        SentenceOrder {
            sentence_end_ids: vec![STOP],
            sep_id: SEP,
        }
    }

    #[test]
    fn a_cut_falls_after_a_sentence_end_and_the_segments_keep_every_piece() {
        // Two sentences: 10 11 。 | 12 13 。
        let s = sequence(&[10, 11, STOP, 12, 13, STOP]);
        let (mut in_order, mut swapped) = (0, 0);
        for seed in 0..400 {
            let p = order().pair(&s, &mut ChaCha12Rng::seed_from_u64(seed));
            let expected: Vec<i64> = match p.label {
                0 => {
                    in_order += 1;
                    vec![CLS, 10, 11, STOP, SEP, 12, 13, STOP, SEP]
                }
                1 => {
                    swapped += 1;
                    vec![CLS, 12, 13, STOP, SEP, 10, 11, STOP, SEP]
                }
                other => panic!("label {other}"),
            };
            assert_eq!(p.sequence.ids, expected);
            assert_eq!(p.token_type_ids, [0, 0, 0, 0, 0, 1, 1, 1, 1]);
            // The words moved with their pieces and never cover a [SEP].
            let covered: Vec<i64> = p
                .sequence
                .words
                .iter()
                .flat_map(|w| p.sequence.ids[w.clone()].to_vec())
                .collect();
            assert_eq!(covered.len(), 6);
            assert!(!covered.contains(&SEP) && !covered.contains(&CLS));
        }
        assert!(
            (160..=240).contains(&in_order),
            "{in_order} of 400 in order"
        );
        assert_eq!(in_order + swapped, 400);
    }

    #[test]
    fn without_a_sentence_end_any_word_boundary_may_be_the_cut() {
        let s = sequence(&[10, 11, 12, 13]);
        let mut cuts = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let p = order().pair(&s, &mut ChaCha12Rng::seed_from_u64(seed));
            let sep = p.sequence.ids.iter().position(|&i| i == SEP).unwrap();
            let first_len = if p.label == 0 { sep - 1 } else { 4 - (sep - 1) };
            cuts.insert(first_len);
            assert_eq!(p.sequence.ids.len(), 7);
        }
        assert_eq!(cuts, [1, 2, 3].into_iter().collect());
    }

    #[test]
    fn a_single_word_is_not_cut_and_has_no_label() {
        let s = sequence(&[10]);
        let p = order().pair(&s, &mut ChaCha12Rng::seed_from_u64(1));
        assert_eq!(p.sequence, s);
        assert_eq!(p.label, IGNORED);
        assert_eq!(p.token_type_ids, [0, 0, 0]);
    }
}
