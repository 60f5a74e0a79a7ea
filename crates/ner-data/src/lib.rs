//! ner-data: everything between a dataset file and the flat vectors the trainer turns into tensors.
//! Pure Rust (no tch) so it can be tested quickly and reused by tools that never touch a GPU.
//!
//! Data flow: [`read_file`] → [`Sentence`] → [`Tokenizer::tokenize`] → [`features`] → [`Batcher`] →
//! [`Batch`]; predictions come back through [`merge_windows`] and [`units_to_char_tags`].

pub mod batch;
pub mod error;
pub mod labels;
pub mod metrics;
pub mod reader;
pub mod report;
pub mod scheme;
pub mod tokenizer;
pub mod window;

pub use batch::{collate, Batch, Batcher};
pub use error::DataError;
pub use labels::LabelSet;
pub use metrics::{
    chunks, entity_scores, token_macro_scores, Chunk, EntityCounter, EntityScores, Prf,
    TokenMacroScores,
};
pub use reader::{
    detect_format, read_bytes, read_file, read_file_with, DataFormat, ReadOptions, Sentence,
};
pub use report::{ReadReport, Warning, WarningKind};
pub use scheme::TagScheme;
pub use tokenizer::{Tokenized, Tokenizer, Unit, UnkStats};
pub use window::{features, keep_ranges, merge_windows, plan_windows, units_to_char_tags, Feature};
