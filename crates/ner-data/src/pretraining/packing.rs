//! Consecutive text packed into sequences of up to `max_seq_length` pieces: `[CLS]`, the pieces of
//! as many whole words as fit, `[SEP]`. In the [`SequenceLayout::Packed`] layout a document's end
//! inside a sequence is marked with another `[SEP]` (as RoBERTa packs full sentences across
//! documents); in [`SequenceLayout::SegmentPairs`] a document's end closes the sequence, which keeps
//! a piece free for the `[SEP]` that will part its two segments. A word is never split between two
//! sequences unless it alone is longer than one.

use std::ops::Range;

use super::whole_words::WordPieces;

/// One packed sequence: ids with `[CLS]` first and `[SEP]` last, and the whole words (ranges of
/// positions in `ids`, never a special token) masking may pick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedSequence {
    pub ids: Vec<i64>,
    pub words: Vec<Range<usize>>,
}

/// How consecutive text fills sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceLayout {
    /// As much text as fits, documents back to back (masked-LM pre-training alone).
    Packed,
    /// One document's text per sequence, a piece short of the length, so that it can become two
    /// segments of that document (ALBERT's sentence-order prediction).
    SegmentPairs,
}

/// Fills sequences from lines of word pieces.
pub struct Packer {
    max_len: usize,
    layout: SequenceLayout,
    cls: i64,
    sep: i64,
    current: PackedSequence,
    done: Vec<PackedSequence>,
}

impl Packer {
    /// `max_len` counts `[CLS]` and `[SEP]` (and the segments' `[SEP]` of
    /// [`SequenceLayout::SegmentPairs`]); it must leave room for a piece (at least 3, or 4).
    pub fn new(max_len: usize, layout: SequenceLayout, cls: i64, sep: i64) -> Self {
        let max_len = match layout {
            SequenceLayout::Packed => max_len,
            SequenceLayout::SegmentPairs => max_len.saturating_sub(1),
        };
        assert!(
            max_len >= 3,
            "max_seq_length {max_len} leaves no room for text"
        );
        Packer {
            max_len,
            layout,
            cls,
            sep,
            current: Self::start(cls),
            done: Vec::new(),
        }
    }

    fn start(cls: i64) -> PackedSequence {
        PackedSequence {
            ids: vec![cls],
            words: Vec::new(),
        }
    }

    /// Room left for pieces before the closing `[SEP]`.
    fn room(&self) -> usize {
        self.max_len - 1 - self.current.ids.len()
    }

    fn close(&mut self) {
        if self.current.ids.len() > 1 {
            let mut full = std::mem::replace(&mut self.current, Self::start(self.cls));
            if full.ids.last() != Some(&self.sep) {
                full.ids.push(self.sep);
            }
            self.done.push(full);
        }
    }

    /// Adds a line's words; returns the sequences it filled.
    pub fn push(&mut self, line: &WordPieces) -> Vec<PackedSequence> {
        let mut at = 0;
        for &len in &line.word_lengths {
            let mut word = &line.ids[at..at + len];
            at += len;
            if word.len() > self.room() && self.current.ids.len() > 1 {
                self.close();
            }
            // A word longer than a whole sequence goes in pieces.
            while !word.is_empty() {
                let take = word.len().min(self.room());
                let start = self.current.ids.len();
                self.current.ids.extend_from_slice(&word[..take]);
                self.current.words.push(start..start + take);
                word = &word[take..];
                if self.room() == 0 {
                    self.close();
                }
            }
        }
        std::mem::take(&mut self.done)
    }

    /// Marks a document's end: a `[SEP]` when the sequence goes on (or the sequence's end, in
    /// [`SequenceLayout::SegmentPairs`]), else nothing.
    pub fn end_document(&mut self) -> Vec<PackedSequence> {
        if self.layout == SequenceLayout::SegmentPairs {
            self.close();
        } else if self.current.ids.len() > 1 {
            self.current.ids.push(self.sep);
            if self.room() == 0 {
                self.close();
            }
        }
        std::mem::take(&mut self.done)
    }

    /// The last, partly filled sequence, if any.
    pub fn finish(mut self) -> Option<PackedSequence> {
        self.close();
        self.done.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLS: i64 = 101;
    const SEP: i64 = 102;

    fn words(lengths: &[usize], first: i64) -> WordPieces {
        let n: usize = lengths.iter().sum();
        WordPieces {
            ids: (first..first + n as i64).collect(),
            word_lengths: lengths.to_vec(),
        }
    }

    #[test]
    fn words_fill_sequences_without_being_split_and_documents_are_separated() {
        let mut p = Packer::new(8, SequenceLayout::Packed, CLS, SEP);
        // 6 pieces of room: [2, 3] fit, the next 2-piece word does not.
        assert!(p.push(&words(&[2, 3], 1)).is_empty());
        let out = p.push(&words(&[2, 1], 10));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ids, [CLS, 1, 2, 3, 4, 5, SEP]);
        assert_eq!(out[0].words, [1..3, 3..6]);
        assert!(p.end_document().is_empty());
        assert!(p.push(&words(&[1], 20)).is_empty());
        let last = p.finish().unwrap();
        assert_eq!(last.ids, [CLS, 10, 11, 12, SEP, 20, SEP]);
        assert_eq!(last.words, [1..3, 3..4, 5..6]);
    }

    #[test]
    fn a_word_longer_than_a_sequence_goes_in_pieces_and_nothing_is_lost() {
        let mut p = Packer::new(5, SequenceLayout::Packed, CLS, SEP);
        let out = p.push(&words(&[7], 1));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ids, [CLS, 1, 2, 3, SEP]);
        assert_eq!(out[1].ids, [CLS, 4, 5, 6, SEP]);
        let last = p.finish().unwrap();
        assert_eq!(last.ids, [CLS, 7, SEP]);
        assert_eq!(last.words, vec![1..2]);
    }

    #[test]
    fn nothing_pushed_is_no_sequence() {
        let mut p = Packer::new(5, SequenceLayout::Packed, CLS, SEP);
        assert!(p.end_document().is_empty());
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn segment_pairs_keep_a_piece_free_and_never_cross_a_document() {
        let mut p = Packer::new(8, SequenceLayout::SegmentPairs, CLS, SEP);
        // 5 pieces of room: [2, 3] fill it.
        let out = p.push(&words(&[2, 3, 1], 1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ids, [CLS, 1, 2, 3, 4, 5, SEP]);
        let out = p.end_document();
        assert_eq!(out.len(), 1, "the document's end closes its sequence");
        assert_eq!(out[0].ids, [CLS, 6, SEP]);
        assert!(p.push(&words(&[1], 20)).is_empty());
        let last = p.finish().unwrap();
        assert_eq!(
            last.ids,
            [CLS, 20, SEP],
            "no [SEP] of another document inside"
        );
    }
}
