//! The `char TAG` reader (CoNLL-like, one character per line).
//!
//! A line is split by taking its *first character* as the token, whatever it is, and then requiring
//! a space or tab and the tag. Splitting on whitespace instead would lose lines whose character is
//! itself a space (`"  O"`) or a full-width space (`"\u{3000} O"`), which real corpora contain.

use std::path::Path;

use super::{excerpt, Lines, ReadOptions, Sentence};
use crate::error::DataError;
use crate::report::{ReadReport, WarningKind};
use crate::scheme::{detect_scheme, parse_tag, to_bio, TagScheme};

pub(super) fn read(
    path: &Path,
    mut lines: Lines<'_>,
    report: &mut ReadReport,
    _options: ReadOptions,
) -> Result<Vec<Sentence>, DataError> {
    let mut sentences = Vec::new();
    let mut current = Sentence {
        chars: Vec::new(),
        tags: Vec::new(),
        line: 0,
    };
    // Blank lines seen since the last character line (or since the start of the file).
    let mut blanks = 0usize;
    let mut first_blank = 0usize;
    let mut seen_any = false;
    for (number, line) in lines.by_ref() {
        if line.trim().is_empty() {
            if blanks == 0 {
                first_blank = number;
            }
            blanks += 1;
            if !current.chars.is_empty() {
                sentences.push(std::mem::replace(
                    &mut current,
                    Sentence {
                        chars: Vec::new(),
                        tags: Vec::new(),
                        line: 0,
                    },
                ));
            }
            continue;
        }
        if (seen_any && blanks > 1) || (!seen_any && blanks > 0) {
            report.warn(WarningKind::MultipleBlankLines, first_blank, "");
        }
        blanks = 0;
        seen_any = true;
        let (c, tag) = split_line(path, number, line)?;
        if let Err(reason) = parse_tag(tag) {
            return Err(DataError::UnknownTag {
                path: path.to_path_buf(),
                line: number,
                value: excerpt(tag),
                reason: reason.to_string(),
            });
        }
        if current.chars.is_empty() {
            current.line = number;
        }
        current.chars.push(c);
        current.tags.push(tag.to_string());
    }
    if !current.chars.is_empty() {
        sentences.push(current);
    }
    if seen_any && blanks > 1 {
        report.warn_n(
            WarningKind::TrailingBlankLines,
            blanks - 1,
            first_blank + 1,
            "",
        );
    }
    lines.finish(report);

    let scheme = detect_scheme(
        sentences
            .iter()
            .flat_map(|s| s.tags.iter().map(String::as_str)),
    );
    report.scheme = scheme;
    let mut converted = 0usize;
    let mut first_converted: Option<(usize, String)> = None;
    for s in &mut sentences {
        let before = if scheme == TagScheme::Bio {
            None
        } else {
            Some(s.tags.clone())
        };
        let repaired = to_bio(&mut s.tags);
        for &i in &repaired {
            let original = before
                .as_ref()
                .map_or_else(|| s.tags[i].replacen("B-", "I-", 1), |b| b[i].clone());
            report.warn(
                WarningKind::OrphanInside,
                s.line + i,
                format!("{} {}", s.chars[i], original),
            );
        }
        if let Some(b) = before {
            let n = b.iter().zip(&s.tags).filter(|(x, y)| x != y).count();
            if n > 0 && first_converted.is_none() {
                let i = b.iter().zip(&s.tags).position(|(x, y)| x != y).unwrap_or(0);
                first_converted = Some((s.line + i, format!("{} -> {}", b[i], s.tags[i])));
            }
            converted += n;
        }
    }
    if let Some((line, example)) = first_converted {
        report.warn_n(WarningKind::SchemeConverted, converted, line, example);
    }
    Ok(sentences)
}

/// Splits `CHAR SEP TAG` where CHAR is exactly one character (possibly whitespace).
fn split_line<'a>(path: &Path, number: usize, line: &'a str) -> Result<(char, &'a str), DataError> {
    let malformed = |reason: &str| DataError::Malformed {
        path: path.to_path_buf(),
        line: number,
        value: excerpt(line),
        reason: reason.to_string(),
    };
    let c = line.chars().next().ok_or_else(|| malformed("empty line"))?;
    if c == '\t' {
        // A tab is a column separator, never text: the character column is missing.
        return Err(malformed(
            "the line starts with a tab, so its character is missing (expected `CHAR TAG`)",
        ));
    }
    let rest = &line[c.len_utf8()..];
    if rest.trim().is_empty() {
        return Err(malformed("no tag (expected `CHAR TAG`)"));
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(malformed(
            "expected one character, a space or tab, then the tag",
        ));
    }
    let tag = rest.trim_matches([' ', '\t']);
    if tag.contains([' ', '\t']) {
        return Err(malformed("extra columns (expected `CHAR TAG`)"));
    }
    Ok((c, tag))
}
