//! Raw text for masked-language-model pre-training (`task=pretrain`): text files streamed line by line
//! ([`TextLines`]), each line cut into whole words and word pieces ([`WholeWordTokenizer`]), packed into
//! sequences of consecutive text ([`Packer`]), and masked whole word by whole word ([`Masking`]).
//! [`PackedStream`] chains the first three, [`Shuffled`] mixes its order within a bounded buffer;
//! nothing holds more than a line and that buffer in memory. With ALBERT's sentence-order prediction,
//! each sequence holds one document's text and [`SentenceOrder`] cuts it into two segments, in order
//! or swapped, before masking.
//!
//! Text layout: lines of one document follow each other; a blank line (or the end of a file) ends a
//! document. So "one document per line" and "documents separated by blank lines" both read as
//! intended, the first as documents packed back to back, as HF's `run_mlm` packs its text.

mod masking;
mod packing;
mod sentence_order;
mod shuffle;
mod stream;
mod text_lines;
mod whole_words;

pub use masking::{collate_masked, MaskedBatch, MaskedSequence, Masking, IGNORED};
pub use packing::{PackedSequence, Packer, SequenceLayout};
pub use sentence_order::{SegmentPair, SentenceOrder};
pub use shuffle::Shuffled;
pub use stream::PackedStream;
pub use text_lines::{text_files, TextItem, TextLines};
pub use whole_words::{WholeWordTokenizer, WordPieces};
