//! The one error type of the crate.
//!
//! Checkpoints arrive from S3, from zips downloaded by hand, from half-finished copies; when one is
//! broken the message is all the operator sees in CloudWatch. So every variant names the file (for a
//! zip: `archive.zip!folder/entry`), and where it applies the tensor and the byte offset or value.

use crate::DType;

/// Why a checkpoint could not be opened or a tensor could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The operating system refused a read; `path` is the file being read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Nothing at `path` looks like a tensor bundle; `why` says what was looked for.
    #[error("{path}: no TensorFlow checkpoint found: {why}")]
    NotFound { path: String, why: String },

    /// A directory or zip holds more than one `.index`; picking one silently could load the wrong model.
    #[error("{path}: holds {} checkpoint indexes ({}); pass the one to load", found.len(), found.join(", "))]
    SeveralIndexes { path: String, found: Vec<String> },

    /// A data shard the index refers to is absent (an interrupted upload or copy, typically).
    #[error(
        "{file}: data shard missing (the index {index} says the bundle has {num_shards} shard(s))"
    )]
    MissingShard {
        file: String,
        index: String,
        num_shards: u32,
    },

    /// The zip archive itself is unreadable, or an entry in it cannot be decompressed.
    #[error("{path}: zip archive: {source}")]
    Zip {
        path: String,
        #[source]
        source: zip::result::ZipError,
    },

    /// The `.index` file does not parse as a table of bundle entries.
    #[error("{file}: corrupt checkpoint index at byte {offset}: {what}")]
    CorruptIndex {
        file: String,
        offset: u64,
        what: String,
    },

    /// An `.index` block's stored crc32c disagrees with its contents.
    #[error("{file}: index block at byte {offset} fails its crc32c check (stored {expected:#010x}, computed {actual:#010x})")]
    BlockChecksum {
        file: String,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    /// An `.index` block is compressed with something other than nothing or snappy.
    #[error(
        "{file}: index block at byte {offset} uses compression type {kind}; only 0 (none) and 1 (snappy) are known"
    )]
    UnsupportedCompression { file: String, offset: u64, kind: u8 },

    /// A bundle feature this reader deliberately does not implement (big-endian data, a newer format).
    #[error("{file}: unsupported tensor bundle: {what}")]
    UnsupportedBundle { file: String, what: String },

    /// One tensor's index entry is inconsistent (bad protobuf, size not matching dtype and shape, ...).
    #[error("{file}: entry for tensor {tensor:?}: {what}")]
    BadEntry {
        file: String,
        tensor: String,
        what: String,
    },

    /// The caller asked for a tensor the checkpoint does not hold.
    #[error("{file}: no tensor named {tensor:?}")]
    NoSuchTensor { file: String, tensor: String },

    /// The tensor exists but its dtype cannot be converted to what was asked for.
    #[error("{file}: tensor {tensor:?} has dtype {dtype}, which cannot be read as {wanted}")]
    WrongDType {
        file: String,
        tensor: String,
        dtype: DType,
        wanted: &'static str,
    },

    /// A partitioned variable: its data lives in several slice entries this reader does not assemble.
    #[error("{file}: tensor {tensor:?} is saved in {slices} slices (a partitioned variable), which this reader does not assemble")]
    Sliced {
        file: String,
        tensor: String,
        slices: usize,
    },

    /// The data shard is shorter than the index says (a truncated download).
    #[error("{file}: tensor {tensor:?} lies at bytes {offset}..{end} but the file holds only {len} bytes")]
    TruncatedData {
        file: String,
        tensor: String,
        offset: u64,
        end: u64,
        len: u64,
    },

    /// The tensor's bytes disagree with the crc32c recorded when it was saved.
    #[error("{file}: tensor {tensor:?} at byte {offset}: data fails its crc32c check (stored {expected:#010x}, computed {actual:#010x})")]
    TensorChecksum {
        file: String,
        tensor: String,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    /// `read_sibling` was asked for a file that is not beside the checkpoint.
    #[error("{location}: no file {name:?} beside the checkpoint (have: {})", have.join(", "))]
    NoSuchSibling {
        location: String,
        name: String,
        have: Vec<String>,
    },
}
