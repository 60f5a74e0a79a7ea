//! Dataset readers. Every format ends up as the same `Sentence` (one BIO tag per character), so the
//! rest of the pipeline never needs to know where the data came from.

mod char_tag;
mod cluener;
mod span_jsonl;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use ner_settings::DataFormat;

use crate::error::DataError;
use crate::report::{ReadReport, WarningKind};

/// One sentence: characters (Unicode scalar values, the unit every offset in every format is
/// counted in) and one BIO tag per character.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sentence {
    pub chars: Vec<char>,
    /// BIO, one per char.
    pub tags: Vec<String>,
    /// 1-based line where it starts, so later stages can point back into the file.
    pub line: usize,
    /// The file's tokens as character ranges, one per `char TAG` line, when some line held more
    /// than one character (`iPhone`, `2024年`, an emoji with its variation selector): each such
    /// token is one unit with its tag on the first piece, and predictions are written per token.
    /// Empty when every token is one character, or for raw text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<std::ops::Range<usize>>,
}

impl Sentence {
    /// Raw text to be tagged: every character `O` (no gold), one token per character.
    pub fn untagged(text: &str, line: usize) -> Self {
        let chars: Vec<char> = text.chars().collect();
        Self {
            tags: vec!["O".to_string(); chars.len()],
            chars,
            line,
            tokens: Vec::new(),
        }
    }

    /// The tokens as written in the file (each character one token unless [`Self::tokens`] says
    /// otherwise), as character ranges.
    pub fn token_ranges(&self) -> Vec<std::ops::Range<usize>> {
        if self.tokens.is_empty() {
            (0..self.chars.len()).map(|i| i..i + 1).collect()
        } else {
            self.tokens.clone()
        }
    }
}

/// Options that change what a reader accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Accept lines without labels (tagged all O): only meaningful for prediction input, where
    /// refusing them would make CLUENER's unlabeled test.json unusable.
    pub allow_unlabeled: bool,
    /// Drop an entity that overlaps one listed before it (counted as a warning) instead of
    /// refusing the file. CLUENER's train.json has two such nested pairs, e.g. a company name
    /// inside a book title; the shared/ BIO conversion of it kept the first listed, as this does.
    pub drop_overlapping: bool,
}

/// Reads a training/evaluation file: every sentence must carry labels.
pub fn read_file(
    path: &Path,
    format: DataFormat,
) -> Result<(Vec<Sentence>, ReadReport), DataError> {
    read_file_with(path, format, ReadOptions::default())
}

/// Reads a file with options (e.g. unlabeled prediction input).
pub fn read_file_with(
    path: &Path,
    format: DataFormat,
    options: ReadOptions,
) -> Result<(Vec<Sentence>, ReadReport), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::from_io(path, e))?;
    read_bytes(path, &bytes, format, options)
}

/// Reads from memory; `path` is only used in messages. Useful for tests and for data that did not
/// come from a file.
pub fn read_bytes(
    path: &Path,
    bytes: &[u8],
    format: DataFormat,
    options: ReadOptions,
) -> Result<(Vec<Sentence>, ReadReport), DataError> {
    let mut report = ReadReport::new(path.to_path_buf(), format);
    let text = decode(path, bytes, &mut report)?;
    let format = match format {
        DataFormat::Auto => detect_format(text),
        f => f,
    };
    report.format = format;
    let lines = Lines::new(text);
    let sentences = match format {
        DataFormat::CharTag => char_tag::read(path, lines, &mut report, options)?,
        DataFormat::Cluener => cluener::read(path, lines, &mut report, options)?,
        DataFormat::SpanJsonl => span_jsonl::read(path, lines, &mut report, options)?,
        DataFormat::Auto => unreachable!("resolved above"),
    };
    if sentences.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    report.sentences = sentences.len();
    report.chars = sentences.iter().map(|s| s.chars.len()).sum();
    report.entities = count_entities(&sentences);
    Ok((sentences, report))
}

/// Picks the format from the first non-empty line.
pub fn detect_format(text: &str) -> DataFormat {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(l) if l.starts_with('{') => {
            if l.contains("\"entities\"") && !l.contains("\"label\"") {
                DataFormat::SpanJsonl
            } else {
                DataFormat::Cluener
            }
        }
        _ => DataFormat::CharTag,
    }
}

/// Strips a BOM and checks UTF-8, naming the byte offset and line of the first bad byte.
fn decode<'a>(path: &Path, bytes: &'a [u8], report: &mut ReadReport) -> Result<&'a str, DataError> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            report.warn(WarningKind::Bom, 1, "\u{FEFF}");
            rest
        }
        None => bytes,
    };
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let skipped = if report.count(WarningKind::Bom) > 0 {
            3
        } else {
            0
        };
        DataError::InvalidUtf8 {
            path: path.to_path_buf(),
            line,
            offset: at + skipped,
            byte: bytes[at],
        }
    })
}

/// Lines with their 1-based numbers, `\r\n` read as `\n` (counted by the caller through `crlf`).
pub(crate) struct Lines<'a> {
    rest: Option<&'a str>,
    number: usize,
    pub(crate) crlf: usize,
    pub(crate) first_crlf: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: if text.is_empty() { None } else { Some(text) },
            number: 0,
            crlf: 0,
            first_crlf: 0,
        }
    }

    /// Moves the CRLF count into the report once the reader is done.
    pub(crate) fn finish(&self, report: &mut ReadReport) {
        report.warn_n(WarningKind::Crlf, self.crlf, self.first_crlf, "\\r\\n");
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);
    fn next(&mut self) -> Option<(usize, &'a str)> {
        let text = self.rest?;
        self.number += 1;
        let (mut line, rest) = match text.find('\n') {
            Some(i) => (&text[..i], Some(&text[i + 1..]).filter(|r| !r.is_empty())),
            None => (text, None),
        };
        self.rest = rest;
        if let Some(l) = line.strip_suffix('\r') {
            if self.crlf == 0 {
                self.first_crlf = self.number;
            }
            self.crlf += 1;
            line = l;
        }
        Some((self.number, line))
    }
}

fn count_entities(sentences: &[Sentence]) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for s in sentences {
        for t in &s.tags {
            if let Some(kind) = t.strip_prefix("B-") {
                *counts.entry(kind.to_string()).or_default() += 1;
            }
        }
    }
    counts.into_iter().collect()
}

/// Tags characters `start..end` (exclusive) as one entity of `kind`.
pub(crate) fn tag_span(tags: &mut [String], start: usize, end: usize, kind: &str) {
    tags[start] = format!("B-{kind}");
    for t in &mut tags[start + 1..end] {
        *t = format!("I-{kind}");
    }
}

/// Checks an entity type from a JSON file: it becomes part of a tag, so it must be non-empty and
/// free of whitespace (which would break `char TAG` output).
pub(crate) fn check_type(path: &Path, line: usize, kind: &str) -> Result<(), DataError> {
    if kind.is_empty() || kind.chars().any(char::is_whitespace) {
        return Err(DataError::UnknownTag {
            path: path_buf(path),
            line,
            value: kind.to_string(),
            reason: "entity type must be non-empty and contain no whitespace".into(),
        });
    }
    Ok(())
}

/// Longest part of a line an error or warning quotes, in characters.
pub(crate) const EXCERPT_CHARS: usize = 80;

/// What a message quotes of a line: the line itself, or its first [`EXCERPT_CHARS`] characters and
/// the length of the rest (a 200,000-character line must not be copied into every log).
pub(crate) fn excerpt(line: &str) -> String {
    let mut chars = line.char_indices();
    match chars.nth(EXCERPT_CHARS) {
        None => line.to_string(),
        Some((cut, _)) => {
            let rest = line[cut..].chars().count();
            format!("{}… ({rest} more characters)", &line[..cut])
        }
    }
}

pub(crate) fn path_buf(path: &Path) -> PathBuf {
    path.to_path_buf()
}
