//! The `char TAG` reader (CoNLL-like, one token per line).
//!
//! A token is usually one character, but may be more (`iPhone`, `2024年`, `❤️`, a word-per-line
//! corpus): the token is what comes before the last run of spaces or tabs. A line whose *first
//! character* is whitespace tags that character (`"  O"` is a space, `"\u{3000} O"` a full-width space),
//! as real corpora contain them; splitting on whitespace would lose those lines. A token never holds a
//! space or tab itself: that would be an extra column.

use std::ops::Range;
use std::path::Path;

use super::{excerpt, Lines, ReadOptions, Sentence};
use crate::error::DataError;
use crate::report::{ReadReport, WarningKind};
use crate::scheme::{detect_scheme, parse_tag, to_bio, TagScheme};

/// A sentence as read: one tag per token, before BIO conversion and expansion to characters.
#[derive(Default)]
struct TokenLines {
    tokens: Vec<String>,
    tags: Vec<String>,
    line: usize,
}

pub(super) fn read(
    path: &Path,
    mut lines: Lines<'_>,
    report: &mut ReadReport,
    _options: ReadOptions,
) -> Result<Vec<Sentence>, DataError> {
    let mut sentences: Vec<TokenLines> = Vec::new();
    let mut current = TokenLines::default();
    // Blank lines seen since the last token line (or since the start of the file).
    let mut blanks = 0usize;
    let mut first_blank = 0usize;
    let mut seen_any = false;
    for (number, line) in lines.by_ref() {
        if line.trim().is_empty() {
            if blanks == 0 {
                first_blank = number;
            }
            blanks += 1;
            if !current.tokens.is_empty() {
                sentences.push(std::mem::take(&mut current));
            }
            continue;
        }
        if (seen_any && blanks > 1) || (!seen_any && blanks > 0) {
            report.warn(WarningKind::MultipleBlankLines, first_blank, "");
        }
        blanks = 0;
        seen_any = true;
        let (token, tag) = split_line(path, number, line)?;
        if let Err(reason) = parse_tag(tag) {
            return Err(DataError::UnknownTag {
                path: path.to_path_buf(),
                line: number,
                value: excerpt(tag),
                reason: reason.to_string(),
            });
        }
        if token.chars().nth(1).is_some() {
            report.multi_char_token(number, token);
        }
        if current.tokens.is_empty() {
            current.line = number;
        }
        current.tokens.push(token.to_string());
        current.tags.push(tag.to_string());
    }
    if !current.tokens.is_empty() {
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
                format!("{} {}", s.tokens[i], original),
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
    Ok(sentences.into_iter().map(into_chars).collect())
}

/// Spreads each token's BIO tag over its characters: the first takes it, the others continue the
/// entity (`I-X`) or stay `O`, the rule predictions follow too. Token ranges are kept only when
/// some token is longer than one character.
fn into_chars(s: TokenLines) -> Sentence {
    let mut chars = Vec::new();
    let mut tags = Vec::new();
    let mut tokens: Vec<Range<usize>> = Vec::with_capacity(s.tokens.len());
    for (token, tag) in s.tokens.iter().zip(&s.tags) {
        let start = chars.len();
        chars.extend(token.chars());
        tags.push(tag.clone());
        let rest = crate::scheme::continuation(tag);
        tags.extend(std::iter::repeat_n(rest, chars.len() - start - 1));
        tokens.push(start..chars.len());
    }
    if tokens.len() == chars.len() {
        tokens.clear();
    }
    Sentence {
        chars,
        tags,
        line: s.line,
        tokens,
    }
}

/// Splits `TOKEN SEP TAG`: a whitespace first character is a token of its own, anything else runs
/// to the last run of spaces or tabs.
fn split_line<'a>(
    path: &Path,
    number: usize,
    line: &'a str,
) -> Result<(&'a str, &'a str), DataError> {
    let malformed = |reason: &str| DataError::Malformed {
        path: path.to_path_buf(),
        line: number,
        value: excerpt(line),
        reason: reason.to_string(),
    };
    let c = line.chars().next().ok_or_else(|| malformed("empty line"))?;
    if c == '\t' {
        // A tab is a column separator, never text: the token column is missing.
        return Err(malformed(
            "the line starts with a tab, so its token is missing (expected `TOKEN TAG`)",
        ));
    }
    let (token, rest) = if c.is_whitespace() {
        line.split_at(c.len_utf8())
    } else {
        let trimmed = line.trim_end_matches([' ', '\t']);
        match trimmed.rfind([' ', '\t']) {
            Some(sep) => {
                let token = trimmed[..sep].trim_end_matches([' ', '\t']);
                (token, &line[token.len()..])
            }
            None => (trimmed, ""),
        }
    };
    if rest.trim().is_empty() {
        return Err(malformed("no tag (expected `TOKEN TAG`)"));
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(malformed(
            "expected the token, a space or tab, then the tag",
        ));
    }
    let tag = rest.trim_matches([' ', '\t']);
    let token_has_columns = !c.is_whitespace() && token.contains([' ', '\t']);
    if tag.contains([' ', '\t']) || token_has_columns {
        return Err(malformed("extra columns (expected `TOKEN TAG`)"));
    }
    if let Some(control) = token.chars().find(|c| c.is_control()) {
        // A NUL or an escape inside a token is corruption (a binary file, a broken export), never text.
        return Err(malformed(&format!(
            "the token holds the control character U+{:04X}",
            control as u32
        )));
    }
    Ok((token, tag))
}
