//! ner-data: everything between a dataset file and the flat vectors the trainer turns into tensors.
//! Pure Rust (no tch) so it can be tested quickly and reused by tools that never touch a GPU.
//!
//! Data flow: [`read_file`] → [`Sentence`] → [`Tokenizer::tokenize`] → [`features`] → [`Batcher`] →
//! [`Batch`]; predictions come back through [`merge_windows`] and [`units_to_char_tags`].
//!
//! ```
//! use std::path::Path;
//! use ner_data::*;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let (train, report) = read_file(&root.join("tests/data/bio.txt"), DataFormat::Auto)?;
//! println!("{report}");
//! let labels = LabelSet::from_sentences(&train);
//! let tok = Tokenizer::from_vocab_file(&root.join("../../albert_config/vocab.txt"), true)?;
//! let feats = features(&train, &tok, &labels, 8, 2)?; // tiny windows: sentences get split
//! let batcher = Batcher::new(&feats, 2);
//! let (seed, epoch, resume_at) = (42, 0, 0);
//! for idx in &batcher.epoch(seed, epoch)[resume_at..] {
//!     let batch: Batch = collate(&feats, idx); // B*T / B*L flat vectors for tch
//!     assert_eq!(batch.input_ids.len(), batch.batch_size * batch.seq_len);
//! }
//! // Evaluation: in-order batches; the model's per-unit ids for each feature (here: gold).
//! let window_tags: Vec<Vec<i64>> = feats.iter().map(|f| f.tags.clone()).collect();
//! let per_sentence = merge_windows(&feats, &window_tags, train.len());
//! let mut counter = EntityCounter::new();
//! for (s, ids) in train.iter().zip(&per_sentence) {
//!     let names: Vec<&str> = ids.iter().map(|&i| labels.name(i)).collect();
//!     let pred = units_to_char_tags(&names, &tok.tokenize(&s.chars).units);
//!     counter.add(&s.tags, &pred);
//! }
//! assert_eq!(counter.scores().micro.f1, 1.0);
//! # Ok::<(), DataError>(())
//! ```

mod batch;
mod error;
mod labels;
mod metrics;
pub mod pretraining;
mod reader;
mod report;
mod scheme;
mod tokenizer;
mod window;
mod word_vectors;
mod writer;

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
pub use report::{Occurrences, ReadReport, Warning, WarningKind};
pub use scheme::TagScheme;
pub use tokenizer::{is_dropped_by_bert, is_whitespace, Tokenized, Tokenizer, Unit, UnkStats};
pub use window::{
    features, features_of_tokenized, keep_ranges, merge_windows, plan_windows, units_to_char_tags,
    Feature,
};
pub use word_vectors::{VocabRows, WordVectors};
pub use writer::{char_tag_lines, cluener_line, format_sentence, span_jsonl_line, token_tag_lines};
