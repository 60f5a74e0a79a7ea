//! One error type for the whole crate, so the trainer can report a data problem in the same words
//! whichever stage found it: every variant that comes from a file names the file, the 1-based line
//! and the offending value, because "bad data" without a location costs a user a training job.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while turning files into features.
#[derive(Debug, Error)]
pub enum DataError {
    /// The path does not exist; kept apart from other I/O errors because it is the usual mistake
    /// (a channel mounted under another name) and deserves a plain message.
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },

    /// Any other I/O failure while reading.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file with no sentence at all: training on it would silently do nothing.
    #[error("{path}: empty file (no sentences)")]
    Empty { path: PathBuf },

    /// Bytes that are not UTF-8; the offset lets the user find them with a hex editor.
    #[error("{path}:{line}: invalid UTF-8 at byte offset {offset} (byte 0x{byte:02x})")]
    InvalidUtf8 {
        path: PathBuf,
        line: usize,
        offset: usize,
        byte: u8,
    },

    /// A NUL byte: a binary file (a model, an archive) where text was expected.
    #[error("{path}:{line}: a binary file (NUL byte at offset {offset}), not UTF-8 text")]
    Binary {
        path: PathBuf,
        line: usize,
        offset: usize,
    },

    /// A pre-training channel without a line of text.
    #[error("{path}: no text (expected UTF-8 text files: one document per line, or documents separated by blank lines)")]
    NoText { path: PathBuf },

    /// A word2vec file without a single vector.
    #[error("{path}: no vectors (expected word2vec text: `token v1 v2 ...` per line)")]
    NoVectors { path: PathBuf },

    /// A line that does not have the expected shape (no tag, extra columns, bad JSON, ...).
    #[error("{path}:{line}: malformed line {value:?}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        value: String,
        reason: String,
    },

    /// A tag whose prefix is not one of O, B-, I-, E-, S-, M- or whose type is empty.
    #[error("{path}:{line}: unknown tag {value:?}: {reason}")]
    UnknownTag {
        path: PathBuf,
        line: usize,
        value: String,
        reason: String,
    },

    /// An entity span that cannot be placed on the text (out of range, overlapping, or whose
    /// stated text differs from the characters it covers).
    #[error("{path}:{line}: bad entity {value}: {reason}")]
    BadEntity {
        path: PathBuf,
        line: usize,
        value: String,
        reason: String,
    },

    /// A line without labels in a file read for training or evaluation.
    #[error("{path}:{line}: no labels on this line (unlabeled lines are only allowed for prediction): {value}")]
    Unlabeled {
        path: PathBuf,
        line: usize,
        value: String,
    },

    /// A label in validation/test data that the model (trained on the training label set) cannot
    /// produce: its score would be meaningless, so it is refused up front.
    #[error("{path}:{line}: label {label:?} is not in the training label set {known:?}")]
    UnknownLabel {
        path: PathBuf,
        line: usize,
        label: String,
        known: Vec<String>,
    },

    /// A label file or a label set that cannot drive a BIO tagger.
    #[error("{path}:{line}: bad label {value:?}: {reason}")]
    BadLabel {
        path: PathBuf,
        line: usize,
        value: String,
        reason: String,
    },

    /// A vocabulary file without the special tokens the model needs.
    #[error("{path}: vocabulary {reason}")]
    Vocab { path: PathBuf, reason: String },

    /// One unit (for example a long Latin word) has more word pieces than fit in a window; since
    /// nothing is ever truncated, the only honest answer is to refuse.
    #[error("sentence starting at line {line}: unit {value:?} (chars {start}..{end}) has {pieces} word pieces, more than the {max} that fit in max_seq_length")]
    UnitTooLong {
        line: usize,
        value: String,
        start: usize,
        end: usize,
        pieces: usize,
        max: usize,
    },

    /// A setting that cannot work (e.g. max_seq_length < 3, an unknown format name).
    #[error("invalid setting: {0}")]
    Config(String),
}

impl DataError {
    /// A failed read of `path`: a missing file gets its own message, anything else keeps the OS error.
    pub(crate) fn from_io(path: &std::path::Path, e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => DataError::NotFound {
                path: path.to_path_buf(),
            },
            _ => DataError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        }
    }
}
