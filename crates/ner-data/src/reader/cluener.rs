//! CLUENER JSON lines: `{"text": ..., "label": {"type": {"entity text": [[start, end_inclusive]]}}}`.
//! Offsets count characters (Unicode scalar values), the same unit as `Sentence::chars`.

use std::path::Path;

use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

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
                        value: excerpt(line),
                    });
                }
                report.warn(WarningKind::Unlabeled, number, excerpt(line));
            }
            Some(Value::Object(_)) => {
                // Re-read the labels in file order: which of two overlapping entities is kept
                // (with `drop_overlapping`) must not depend on the alphabetical order of types.
                let raw: RawLine = serde_json::from_str(line).map_err(|e| {
                    bad(
                        path,
                        number,
                        &excerpt(line),
                        &format!("label type must map entity texts to span lists ({e})"),
                    )
                })?;
                for (kind, entities) in &raw.label.0 {
                    check_type(path, number, kind)?;
                    for (text, spans) in &entities.0 {
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
                                return Err(bad(
                                    path,
                                    number,
                                    &shown,
                                    &format!("entity text does not match the span, which covers {covered:?}"),
                                ));
                            }
                            if super::span_jsonl::claim(
                                path,
                                number,
                                &shown,
                                &mut taken,
                                start,
                                end_incl + 1,
                                options,
                                report,
                            )? {
                                tag_span(&mut tags, start, end_incl + 1, kind);
                            }
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
            tokens: Vec::new(),
        });
    }
    lines.finish(report);
    Ok(out)
}

fn bad(path: &Path, line: usize, value: &str, reason: &str) -> DataError {
    DataError::BadEntity {
        path: path.to_path_buf(),
        line,
        value: excerpt(value),
        reason: reason.to_string(),
    }
}

/// The label part of a CLUENER line, maps kept in file order.
#[derive(serde::Deserialize)]
struct RawLine {
    label: Ordered<Ordered<Value>>,
}

/// A JSON object as a list of entries in file order (serde_json's own map sorts its keys).
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered<V>, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = m.next_entry::<String, V>()? {
                    v.push(entry);
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}
