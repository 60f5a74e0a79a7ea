//! What a reader repaired. Harmless oddities (a BOM, CRLF, an I-X without its B-X) are fixed rather
//! than refused, but silently fixing data hides problems, so each repair is counted with its first
//! example and shown in the load report.

use std::path::PathBuf;

use serde::Serialize;

use crate::scheme::TagScheme;
use ner_settings::DataFormat;

/// The kinds of repair a reader may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A UTF-8 byte order mark at the start of the file, stripped.
    Bom,
    /// Lines ending in `\r\n`, read as `\n`.
    Crlf,
    /// An I-X (or E-X/M-X) that does not continue an entity of type X, read as B-X (conlleval).
    OrphanInside,
    /// BIOES or BMES tags converted to BIO.
    SchemeConverted,
    /// More than one blank line between sentences (or before the first).
    MultipleBlankLines,
    /// Blank lines after the last sentence beyond the one that ends it.
    TrailingBlankLines,
    /// A JSON line with an empty text, skipped.
    EmptyText,
    /// An entity overlapping one listed before it, dropped (only with `drop_overlapping`).
    OverlapDropped,
    /// A JSON line without labels, read as all-O (only when reading for prediction).
    Unlabeled,
}

/// One kind of repair: how often, and where it first happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub count: usize,
    /// 1-based line of the first occurrence.
    pub first_line: usize,
    /// The first offending value, as read.
    pub example: String,
}

/// The summary of one file read: what was found and what was repaired.
#[derive(Clone, Debug, Serialize)]
pub struct ReadReport {
    pub path: PathBuf,
    /// The format actually used (never `Auto`).
    pub format: DataFormat,
    /// The tag scheme detected (for char-tag files; JSON files are BIO by construction).
    pub scheme: TagScheme,
    pub sentences: usize,
    pub chars: usize,
    /// Entities per type after conversion to BIO, sorted by type.
    pub entities: Vec<(String, usize)>,
    pub warnings: Vec<Warning>,
    /// `char TAG` tokens of more than one character: not a repair, but worth seeing (a word-per-line
    /// corpus, a lost emoji), with the first one as the example.
    pub multi_char_tokens: Option<Occurrences>,
}

/// How often something was seen in a file, and where first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Occurrences {
    pub count: usize,
    /// 1-based line of the first occurrence.
    pub first_line: usize,
    pub example: String,
}

impl ReadReport {
    pub(crate) fn new(path: PathBuf, format: DataFormat) -> Self {
        ReadReport {
            path,
            format,
            scheme: TagScheme::Bio,
            sentences: 0,
            chars: 0,
            entities: Vec::new(),
            warnings: Vec::new(),
            multi_char_tokens: None,
        }
    }

    /// Counts one token of several characters.
    pub(crate) fn multi_char_token(&mut self, line: usize, token: &str) {
        match &mut self.multi_char_tokens {
            Some(o) => o.count += 1,
            None => {
                self.multi_char_tokens = Some(Occurrences {
                    count: 1,
                    first_line: line,
                    example: token.to_string(),
                })
            }
        }
    }

    /// Counts one repair of `kind`; the first one's line and value are kept as the example.
    pub(crate) fn warn(&mut self, kind: WarningKind, line: usize, example: impl Into<String>) {
        self.warn_n(kind, 1, line, example)
    }

    pub(crate) fn warn_n(
        &mut self,
        kind: WarningKind,
        n: usize,
        line: usize,
        example: impl Into<String>,
    ) {
        if n == 0 {
            return;
        }
        if let Some(w) = self.warnings.iter_mut().find(|w| w.kind == kind) {
            w.count += n;
        } else {
            self.warnings.push(Warning {
                kind,
                count: n,
                first_line: line,
                example: example.into(),
            });
        }
    }

    /// How many times `kind` was repaired (0 if never).
    pub fn count(&self, kind: WarningKind) -> usize {
        self.warnings
            .iter()
            .find(|w| w.kind == kind)
            .map_or(0, |w| w.count)
    }
}

impl std::fmt::Display for ReadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {:?}, {} scheme, {} sentences, {} chars, entities",
            self.path.display(),
            self.format,
            self.scheme,
            self.sentences,
            self.chars
        )?;
        for (t, n) in &self.entities {
            write!(f, " {t}={n}")?;
        }
        if let Some(o) = &self.multi_char_tokens {
            write!(
                f,
                "; {} tokens of several characters, one unit each (first at line {}: {:?})",
                o.count, o.first_line, o.example
            )?;
        }
        for w in &self.warnings {
            write!(
                f,
                "; repaired {:?} x{} (first at line {}: {:?})",
                w.kind, w.count, w.first_line, w.example
            )?;
        }
        Ok(())
    }
}
