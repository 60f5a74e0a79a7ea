//! CLUENER JSON lines: `{"text": ..., "label": {"type": {"entity text": [[start, end_inclusive]]}}}`.
//! Offsets count characters (Unicode scalar values), the same unit as `Sentence::chars`.

use std::path::Path;

use serde_json::Value;

use super::{check_type, tag_span, Lines, ReadOptions, Sentence};
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
        let Some((chars, obj)) = super::span_jsonl::parse_object(path, number, line, report)?
        else {
            continue;
        };
        let mut tags = vec!["O".to_string(); chars.len()];
        let mut taken: Vec<Option<usize>> = vec![None; chars.len()];
        match obj.get("label") {
            None | Some(Value::Null) => {
                if !options.allow_unlabeled {
                    return Err(DataError::Unlabeled {
                        path: path.to_path_buf(),
                        line: number,
                        value: truncate(line),
                    });
                }
                report.warn(WarningKind::Unlabeled, number, truncate(line));
            }
            Some(Value::Object(types)) => {
                for (kind, entities) in types {
                    check_type(path, number, kind)?;
                    let Value::Object(entities) = entities else {
                        return Err(bad(
                            path,
                            number,
                            kind,
                            "label type must map entity texts to span lists",
                        ));
                    };
                    for (text, spans) in entities {
                        let shown = format!("{kind}:{text:?}:{spans}");
                        let spans = spans.as_array().ok_or_else(|| {
                            bad(path, number, &shown, "spans must be a list of [start, end]")
                        })?;
                        for span in spans {
                            let pair = span
                                .as_array()
                                .filter(|a| a.len() == 2)
                                .and_then(|a| {
                                    Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize))
                                })
                                .ok_or_else(|| {
                                    bad(
                                        path,
                                        number,
                                        &shown,
                                        "span must be [start, end] with non-negative integers",
                                    )
                                })?;
                            let (start, end_incl) = pair;
                            let shown = format!("{kind}:{text:?}:[{start}, {end_incl}]");
                            if start > end_incl {
                                return Err(bad(path, number, &shown, "start after end"));
                            }
                            if end_incl >= chars.len() {
                                return Err(bad(
                                    path,
                                    number,
                                    &shown,
                                    &format!(
                                        "span out of range (text has {} characters)",
                                        chars.len()
                                    ),
                                ));
                            }
                            let covered: String = chars[start..=end_incl].iter().collect();
                            if &covered != text {
                                return Err(bad(path, number, &shown, &format!("entity text does not match the span, which covers {covered:?}")));
                            }
                            super::span_jsonl::claim(
                                path,
                                number,
                                &shown,
                                &mut taken,
                                start,
                                end_incl + 1,
                            )?;
                            tag_span(&mut tags, start, end_incl + 1, kind);
                        }
                    }
                }
            }
            Some(other) => {
                return Err(bad(
                    path,
                    number,
                    &other.to_string(),
                    "\"label\" must be an object",
                ));
            }
        }
        out.push(Sentence {
            chars,
            tags,
            line: number,
        });
    }
    lines.finish(report);
    Ok(out)
}

fn bad(path: &Path, line: usize, value: &str, reason: &str) -> DataError {
    DataError::BadEntity {
        path: path.to_path_buf(),
        line,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub(super) fn truncate(line: &str) -> String {
    let mut s: String = line.chars().take(80).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}
