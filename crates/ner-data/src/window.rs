//! Sliding windows. A sentence whose pieces do not fit in `max_seq_length - 2` is split into
//! overlapping windows on unit boundaries instead of being truncated: truncation would silently
//! drop gold entities from training and leave characters without a prediction.
//!
//! Each unit's prediction is taken from the window where it is farthest from a window edge (the
//! sentence's own start and end are not edges), so every unit has context on both sides; those
//! choices are stored as `Feature::keep` and tile the sentence exactly.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::labels::LabelSet;
use crate::reader::Sentence;
use crate::tokenizer::{Tokenized, Tokenizer, Unit};

/// One model input: `[CLS] pieces [SEP]` for a window of a sentence's units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// Index of the sentence in the slice given to [`features`].
    pub sentence: usize,
    /// `[CLS]` pieces `[SEP]`, at most `max_seq_length` long.
    pub input_ids: Vec<i64>,
    /// Index into `input_ids` of each unit's first piece: the CRF runs over these positions only.
    pub tag_positions: Vec<i64>,
    /// Gold label id per unit (the tag of the unit's first character; 0 = O when there is none).
    pub tags: Vec<i64>,
    /// The sentence unit that is this window's unit 0.
    pub unit_offset: usize,
    /// The units of this window (indices into `tag_positions`, i.e. *window-relative*: the
    /// sentence unit is `unit_offset + i`) whose predictions are kept.
    pub keep: Range<usize>,
}

/// Tokenizes sentences and cuts them into windows of at most `max_seq_length` pieces including
/// `[CLS]` and `[SEP]`. `stride` is the overlap: how many pieces of the previous window each new
/// window repeats as left context (as in HF's `stride`); it is capped at half the window so that
/// windows always advance. Gold ids come from `labels`; a tag missing from it is an error (check
/// evaluation data with [`LabelSet::check`] first for a message naming the file).
pub fn features(
    sentences: &[Sentence],
    tokenizer: &Tokenizer,
    labels: &LabelSet,
    max_seq_length: usize,
    stride: usize,
) -> Result<Vec<Feature>, DataError> {
    let tokenized: Vec<Tokenized> = sentences
        .iter()
        .map(|s| tokenizer.tokenize_sentence(s))
        .collect();
    features_of_tokenized(
        sentences,
        &tokenized,
        tokenizer,
        labels,
        max_seq_length,
        stride,
    )
}

/// [`features`] of sentences already tokenized (`tokenized[i]` is `sentences[i]`'s), for callers that
/// keep the tokenization to map predictions back to characters.
pub fn features_of_tokenized(
    sentences: &[Sentence],
    tokenized: &[Tokenized],
    tokenizer: &Tokenizer,
    labels: &LabelSet,
    max_seq_length: usize,
    stride: usize,
) -> Result<Vec<Feature>, DataError> {
    assert_eq!(
        sentences.len(),
        tokenized.len(),
        "one tokenization per sentence"
    );
    if max_seq_length < 3 {
        return Err(DataError::Config(format!(
            "max_seq_length must be at least 3 ([CLS], one piece, [SEP]); got {max_seq_length}"
        )));
    }
    let budget = max_seq_length - 2;
    let stride = stride.min(budget / 2);
    let mut out = Vec::new();
    for (si, (s, tok)) in sentences.iter().zip(tokenized).enumerate() {
        let mut gold = Vec::with_capacity(tok.units.len());
        for u in &tok.units {
            let tag = &s.tags[u.chars.start];
            let id = labels.id(tag).ok_or_else(|| DataError::UnknownLabel {
                path: "<sentences>".into(),
                line: s.line,
                label: tag.clone(),
                known: labels.labels().to_vec(),
            })?;
            gold.push(id);
        }
        let sizes: Vec<usize> = tok.units.iter().map(|u| u.pieces.len()).collect();
        if let Some(u) = tok.units.iter().find(|u| u.pieces.len() > budget) {
            return Err(DataError::UnitTooLong {
                line: s.line,
                value: s.chars[u.chars.clone()].iter().collect(),
                start: u.chars.start,
                end: u.chars.end,
                pieces: u.pieces.len(),
                max: budget,
            });
        }
        let spans = plan_windows(&sizes, budget, stride);
        let keeps = keep_ranges(&spans, sizes.len());
        for (w, keep) in spans.iter().zip(keeps) {
            let mut input_ids = Vec::with_capacity(budget + 2);
            input_ids.push(tokenizer.cls_id());
            let mut tag_positions = Vec::with_capacity(w.len());
            for u in &tok.units[w.clone()] {
                tag_positions.push(input_ids.len() as i64);
                input_ids.extend_from_slice(&tok.ids[u.pieces.clone()]);
            }
            input_ids.push(tokenizer.sep_id());
            out.push(Feature {
                sentence: si,
                input_ids,
                tag_positions,
                tags: gold[w.clone()].to_vec(),
                unit_offset: w.start,
                keep: keep.start - w.start..keep.end - w.start,
            });
        }
    }
    Ok(out)
}

/// Unit ranges of the windows of one sentence: greedy fill to `budget` pieces; each next window
/// starts so that it repeats at most `stride` pieces of the previous one, but always after the
/// previous start and always far enough back to include the first unit not yet covered.
/// Assumes every unit fits in `budget`.
pub fn plan_windows(sizes: &[usize], budget: usize, stride: usize) -> Vec<Range<usize>> {
    let n = sizes.len();
    if n == 0 {
        return std::iter::once(0..0).collect();
    }
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let mut end = start;
        let mut used = 0;
        while end < n && used + sizes[end] <= budget {
            used += sizes[end];
            end += 1;
        }
        out.push(start..end);
        if end == n {
            return out;
        }
        // Overlap: the longest suffix of this window within `stride` pieces...
        let mut next = end;
        let mut overlap = 0;
        while next > start + 1 && overlap + sizes[next - 1] <= stride {
            overlap += sizes[next - 1];
            next -= 1;
        }
        // ...shrunk until the next window can still take unit `end`.
        while overlap + sizes[end] > budget {
            overlap -= sizes[next];
            next += 1;
        }
        start = next;
    }
}

/// For each window, the sentence units it keeps: each unit goes to the window where its distance
/// to the nearest window edge (sentence ends excluded) is largest, ties to the earlier window.
/// Because windows are ordered by both start and end, this assignment is contiguous.
pub fn keep_ranges(windows: &[Range<usize>], n: usize) -> Vec<Range<usize>> {
    let dist = |w: &Range<usize>, u: usize| -> usize {
        let left = if w.start == 0 {
            usize::MAX
        } else {
            u - w.start
        };
        let right = if w.end == n {
            usize::MAX
        } else {
            w.end - 1 - u
        };
        left.min(right)
    };
    let mut owner = vec![0usize; n];
    for (u, o) in owner.iter_mut().enumerate() {
        let mut best: Option<(usize, usize)> = None;
        for (k, w) in windows.iter().enumerate() {
            if w.contains(&u) {
                let d = dist(w, u);
                if best.is_none_or(|(_, bd)| d > bd) {
                    best = Some((k, d));
                }
            }
        }
        *o = best.expect("windows cover every unit").0;
    }
    let mut out = Vec::with_capacity(windows.len());
    let mut u = 0;
    for (k, w) in windows.iter().enumerate() {
        let start = u;
        while u < n && owner[u] == k {
            u += 1;
        }
        // An empty keep sits inside the window so `keep - unit_offset` stays valid.
        out.push(if start == u {
            w.start.max(start).min(w.end)..w.start.max(start).min(w.end)
        } else {
            start..u
        });
    }
    assert_eq!(u, n, "keep ranges must tile the sentence");
    out
}

/// Reassembles per-sentence unit predictions (tag ids, or their confidences) from per-window ones (`window_tags[f]` has one
/// value per unit of `features[f]`), taking each unit from the window that keeps it. Windows may come
/// in any order. Returns one vector per sentence `0..num_sentences` (empty for a sentence with no
/// feature).
pub fn merge_windows<T: Copy>(
    features: &[Feature],
    window_tags: &[Vec<T>],
    num_sentences: usize,
) -> Vec<Vec<T>> {
    assert_eq!(
        features.len(),
        window_tags.len(),
        "one prediction per feature"
    );
    let mut out: Vec<Vec<Option<T>>> = vec![Vec::new(); num_sentences];
    for (f, tags) in features.iter().zip(window_tags) {
        assert!(
            tags.len() >= f.keep.end,
            "feature of sentence {} has {} predictions for keep {:?}",
            f.sentence,
            tags.len(),
            f.keep
        );
        let s = &mut out[f.sentence];
        let end = f.unit_offset + f.keep.end;
        if s.len() < end {
            s.resize(end, None);
        }
        for i in f.keep.clone() {
            s[f.unit_offset + i] = Some(tags[i]);
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(si, v)| {
            v.into_iter()
                .enumerate()
                .map(|(u, t)| {
                    t.unwrap_or_else(|| panic!("sentence {si}: unit {u} has no prediction"))
                })
                .collect()
        })
        .collect()
}

/// Spreads unit tags back onto characters: the unit's first character gets the unit's tag, the
/// others `I-X` when it is `B-X`/`I-X` (the entity continues through the unit), else `O`.
pub fn units_to_char_tags<S: AsRef<str>>(unit_tags: &[S], units: &[Unit]) -> Vec<String> {
    assert_eq!(unit_tags.len(), units.len(), "one tag per unit");
    let n = units.last().map_or(0, |u| u.chars.end);
    let mut out = Vec::with_capacity(n);
    for (t, u) in unit_tags.iter().zip(units) {
        let t = t.as_ref();
        out.push(t.to_string());
        let rest = crate::scheme::continuation(t);
        for _ in 1..u.chars.len() {
            out.push(rest.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_small_cases() {
        assert_eq!(plan_windows(&[1, 1, 1], 5, 2), vec![0..3]);
        assert_eq!(plan_windows(&[1; 6], 4, 2), vec![0..4, 2..6]);
        assert_eq!(plan_windows(&[1; 7], 4, 0), vec![0..4, 4..7]);
        assert_eq!(plan_windows(&[3, 3, 3], 4, 2), vec![0..1, 1..2, 2..3]);
        assert_eq!(plan_windows(&[], 4, 2), vec![0..0]);
    }

    #[test]
    fn keep_tiles() {
        let w = plan_windows(&[1; 10], 4, 2);
        let k = keep_ranges(&w, 10);
        assert_eq!(k.first().unwrap().start, 0);
        assert_eq!(k.last().unwrap().end, 10);
        for p in k.windows(2) {
            assert_eq!(p[0].end, p[1].start);
        }
    }

    #[test]
    fn char_tags_from_units() {
        let units = vec![
            Unit {
                chars: 0..1,
                pieces: 0..1,
            },
            Unit {
                chars: 1..4,
                pieces: 1..3,
            },
            Unit {
                chars: 4..6,
                pieces: 3..4,
            },
        ];
        assert_eq!(
            units_to_char_tags(&["O", "B-X", "S"], &units),
            ["O", "B-X", "I-X", "I-X", "S", "O"]
        );
    }
}
