//! JSON lines of `{"text": ..., "entities": [{"start", "end" (exclusive), "type"}]}`: the plainest
//! span format, for users whose data is not CLUENER. Offsets count characters.

use std::path::Path;

use serde_json::{Map, Value};

use super::{check_type, excerpt, tag_span, Lines, ReadOptions, Sentence};
use crate::error::DataError;
use crate::report::{ReadReport, WarningKind};

pub(super) fn read(
    path: &Path,
    mut lines: Lines<'_>,
    report: &mut ReadReport,
    options: ReadOptions,
) -> Result<Vec<Sentence>, DataError> {
    let mut out = Vec::new();
    for (number, line) in lines.by_ref() {
        let Some((chars, obj)) = parse_object(path, number, line, report)? else {
            continue;
        };
        let mut tags = vec!["O".to_string(); chars.len()];
        let mut taken: Vec<Option<usize>> = vec![None; chars.len()];
        match obj.get("entities") {
            None | Some(Value::Null) => {
                if !options.allow_unlabeled {
                    return Err(DataError::Unlabeled {
                        path: path.to_path_buf(),
                        line: number,
                        value: excerpt(line),
                    });
                }
                report.warn(WarningKind::Unlabeled, number, excerpt(line));
            }
            Some(Value::Array(entities)) => {
                for e in entities {
                    let shown = e.to_string();
                    let bad = |reason: &str| DataError::BadEntity {
                        path: path.to_path_buf(),
                        line: number,
                        value: shown.clone(),
                        reason: reason.to_string(),
                    };
                    let start = e
                        .get("start")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| bad("\"start\" must be a non-negative integer"))?
                        as usize;
                    let end = e
                        .get("end")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| bad("\"end\" must be a non-negative integer"))?
                        as usize;
                    let kind = e
                        .get("type")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("\"type\" must be a string"))?;
                    check_type(path, number, kind)?;
                    if start >= end {
                        return Err(bad(
                            "empty span: \"end\" is exclusive and must exceed \"start\"",
                        ));
                    }
                    if end > chars.len() {
                        return Err(bad(&format!(
                            "span out of range (text has {} characters)",
                            chars.len()
                        )));
                    }
                    if let Some(t) = e.get("text").and_then(Value::as_str) {
                        let covered: String = chars[start..end].iter().collect();
                        if covered != t {
                            return Err(bad(&format!(
                                "entity text does not match the span, which covers {covered:?}"
                            )));
                        }
                    }
                    if claim(
                        path, number, &shown, &mut taken, start, end, options, report,
                    )? {
                        tag_span(&mut tags, start, end, kind);
                    }
                }
            }
            Some(other) => {
                return Err(DataError::BadEntity {
                    path: path.to_path_buf(),
                    line: number,
                    value: other.to_string(),
                    reason: "\"entities\" must be a list".into(),
                });
            }
        }
        out.push(Sentence {
            chars,
            tags,
            line: number,
            tokens: Vec::new(),
        });
    }
    lines.finish(report);
    Ok(out)
}

/// One parsed JSON line: its characters and the whole object.
pub(super) type JsonLine = (Vec<char>, Map<String, Value>);

/// Parses one JSON line into its characters and object; `None` for blank lines and empty texts
/// (counted), so both JSON readers treat them alike.
pub(super) fn parse_object(
    path: &Path,
    number: usize,
    line: &str,
    report: &mut ReadReport,
) -> Result<Option<JsonLine>, DataError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let malformed = |reason: String| DataError::Malformed {
        path: path.to_path_buf(),
        line: number,
        value: excerpt(line),
        reason,
    };
    let value: Value =
        serde_json::from_str(line).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(malformed("expected a JSON object".into()));
    };
    let text = obj
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("missing string field \"text\"".into()))?;
    if text.is_empty() {
        report.warn(WarningKind::EmptyText, number, excerpt(line));
        return Ok(None);
    }
    Ok(Some((text.chars().collect(), obj)))
}

/// Marks characters `start..end` as belonging to one entity and says whether to tag it.
/// Overlapping (nested) entities cannot be expressed in BIO: they are refused, unless
/// `drop_overlapping` is set, in which case the one listed first is kept and the drop counted.
#[allow(clippy::too_many_arguments)]
pub(super) fn claim(
    path: &Path,
    number: usize,
    shown: &str,
    taken: &mut [Option<usize>],
    start: usize,
    end: usize,
    options: ReadOptions,
    report: &mut ReadReport,
) -> Result<bool, DataError> {
    if let Some(other) = taken[start..end].iter().flatten().next() {
        if options.drop_overlapping {
            report.warn(WarningKind::OverlapDropped, number, shown);
            return Ok(false);
        }
        return Err(DataError::BadEntity {
            path: path.to_path_buf(),
            line: number,
            value: shown.to_string(),
            reason: format!(
                "overlaps another entity starting at character {other} (nested entities cannot be \
                 written in BIO; ReadOptions::drop_overlapping keeps the first listed)"
            ),
        });
    }
    for t in &mut taken[start..end] {
        *t = Some(start);
    }
    Ok(true)
}
