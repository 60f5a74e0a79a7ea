//! The wire formats of `/invocations`: what a request body holds (by `Content-Type`) and how the
//! answer is written (by `Accept`).
//!
//! - `application/json`: `{"inputs": "text"}` answers a list of entities; `{"inputs": ["a", "b"]}` a
//!   list of such lists (the shape of HF's token-classification pipeline).
//! - `application/jsonlines`: one input per line, `{"text": ...}` or a JSON string; one
//!   `{"text", "entities"}` line per input line (batch transform with `SplitType=Line`).
//! - `text/plain`: one input per line; answered as `char TAG` lines with a blank line after each input,
//!   the datasets' own form, so that a batch transform's output can be scored against gold.

use axum::http::StatusCode;
use ner_infer::Tagged;
use serde_json::{json, Value};

use crate::api_error::ApiError;

/// A media type this server reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    JsonLines,
    Text,
}

/// The accepted spellings of each format (SageMaker and its SDK use both JSON-lines names).
const MEDIA_TYPES: [(&str, Format); 5] = [
    ("application/json", Format::Json),
    ("application/jsonlines", Format::JsonLines),
    ("application/x-jsonlines", Format::JsonLines),
    ("application/jsonl", Format::JsonLines),
    ("text/plain", Format::Text),
];

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::JsonLines => "application/jsonlines",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    fn of_media_type(media: &str) -> Option<Self> {
        let media = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        MEDIA_TYPES
            .iter()
            .find(|(name, _)| *name == media)
            .map(|(_, f)| *f)
    }

    /// The request body's format, from its `Content-Type` (415 when missing or unknown).
    pub fn of_content_type(value: Option<&str>) -> Result<Self, ApiError> {
        let Some(value) = value else {
            return Err(unsupported("no Content-Type header"));
        };
        Self::of_media_type(value).ok_or_else(|| unsupported(&format!("Content-Type {value:?}")))
    }

    /// The answer's format, from `Accept`: the first supported entry of the list; `*/*`, `application/*`
    /// `text/*` or no header answer in the request's own format (406 when nothing listed is supported).
    pub fn of_accept(value: Option<&str>, request: Self) -> Result<Self, ApiError> {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return Ok(request);
        };
        for entry in value.split(',') {
            let media = entry
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if let Some(format) = Self::of_media_type(&media) {
                return Ok(format);
            }
            match media.as_str() {
                "*/*" => return Ok(request),
                "application/*" if request != Self::Text => return Ok(request),
                "application/*" => return Ok(Self::Json),
                "text/*" => return Ok(Self::Text),
                _ => {}
            }
        }
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Accept {value:?} names no format this server writes; use application/json, \
                 application/jsonlines or text/plain"
            ),
        ))
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("{what}: send application/json, application/jsonlines or text/plain"),
    )
}

/// The texts of one request, and whether JSON gave a single string (answered unwrapped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub texts: Vec<String>,
    pub single: bool,
}

impl Inputs {
    pub fn chars(&self) -> usize {
        self.texts.iter().map(|t| t.chars().count()).sum()
    }
}

/// Reads a request body (400 naming the problem: invalid UTF-8, invalid JSON, no input).
pub fn parse(format: Format, body: &[u8]) -> Result<Inputs, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: send at least one input",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        let at = e.valid_up_to();
        let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        ApiError::bad_request(format!(
            "the body is not UTF-8: invalid byte at offset {at} (line {line})"
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Json => parse_json(text),
        Format::JsonLines => parse_json_lines(text),
        Format::Text => Ok(Inputs {
            texts: lines(text).map(str::to_string).collect(),
            single: false,
        }),
    }
}

/// The body's lines, without CR and without the newline that ends the last one.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

fn parse_json(text: &str) -> Result<Inputs, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let shape = || {
        ApiError::bad_request(
            "expected {\"inputs\": \"text\"} or {\"inputs\": [\"text\", ...]}".to_string(),
        )
    };
    match value.get("inputs").ok_or_else(shape)? {
        Value::String(s) => Ok(Inputs {
            texts: vec![s.clone()],
            single: true,
        }),
        Value::Array(items) if !items.is_empty() => {
            let texts = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::bad_request(format!("inputs[{i}] is {v}, not a string"))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Inputs {
                texts,
                single: false,
            })
        }
        Value::Array(_) => Err(ApiError::bad_request("inputs is an empty list")),
        _ => Err(shape()),
    }
}

fn parse_json_lines(text: &str) -> Result<Inputs, ApiError> {
    let texts = lines(text)
        .enumerate()
        .map(|(i, line)| {
            let at = |what: String| ApiError::bad_request(format!("line {}: {what}", i + 1));
            if line.trim().is_empty() {
                return Err(at("the line is empty; give one JSON value per line".into()));
            }
            match serde_json::from_str::<Value>(line)
                .map_err(|e| at(format!("not valid JSON: {e}")))?
            {
                Value::String(s) => Ok(s),
                Value::Object(o) => match o.get("text") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(at("expected {\"text\": \"...\"} or a JSON string".into())),
                },
                _ => Err(at("expected {\"text\": \"...\"} or a JSON string".into())),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Inputs {
        texts,
        single: false,
    })
}

/// Whether answering in `format` needs the entities' scores (the text form has none).
pub fn needs_scores(format: Format) -> bool {
    format != Format::Text
}

/// Refuses what `format` cannot answer in its place: an empty input has no block of `char TAG` lines.
pub fn check_answerable(format: Format, inputs: &Inputs) -> Result<(), ApiError> {
    if format == Format::Text {
        if let Some(i) = inputs.texts.iter().position(|t| t.trim().is_empty()) {
            return Err(ApiError::bad_request(format!(
                "input {} is blank; text/plain answers (`char TAG` blocks) cannot keep an empty input \
                 in its place: ask for application/jsonlines or drop the blank line",
                i + 1
            )));
        }
    }
    Ok(())
}

/// The answer body; `single`: the request gave one JSON string, answered as one list of entities.
pub fn render(format: Format, single: bool, tagged: &[Tagged]) -> String {
    match format {
        Format::Json => {
            let lists: Vec<Value> = tagged.iter().map(|t| json!(t.entities)).collect();
            if single {
                lists[0].to_string()
            } else {
                Value::Array(lists).to_string()
            }
        }
        Format::JsonLines => tagged
            .iter()
            .map(|t| {
                let text: String = t.chars.iter().collect();
                format!("{}\n", json!({"text": text, "entities": t.entities}))
            })
            .collect(),
        Format::Text => tagged
            .iter()
            .map(|t| {
                let mut block: String = t
                    .chars
                    .iter()
                    .zip(&t.tags)
                    .map(|(c, tag)| format!("{c} {tag}\n"))
                    .collect();
                block.push('\n');
                block
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_accept() {
        assert_eq!(
            Format::of_content_type(Some("application/json; charset=utf-8")),
            Ok(Format::Json)
        );
        assert_eq!(
            Format::of_content_type(Some("Application/X-JsonLines")),
            Ok(Format::JsonLines)
        );
        assert_eq!(
            Format::of_content_type(Some("text/csv"))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(Format::of_content_type(None).unwrap_err().status, 415);
        assert_eq!(
            Format::of_accept(None, Format::JsonLines),
            Ok(Format::JsonLines)
        );
        assert_eq!(
            Format::of_accept(Some("*/*"), Format::Text),
            Ok(Format::Text)
        );
        assert_eq!(
            Format::of_accept(Some("image/png, text/plain;q=0.5"), Format::Json),
            Ok(Format::Text)
        );
        assert_eq!(
            Format::of_accept(Some("image/png"), Format::Json)
                .unwrap_err()
                .status,
            406
        );
    }

    #[test]
    fn bodies() {
        let one = parse(Format::Json, br#"{"inputs": "abc"}"#).unwrap();
        assert_eq!((one.texts, one.single), (vec!["abc".to_string()], true));
        let lines = parse(Format::JsonLines, b"{\"text\": \"a\"}\r\n\"b\"\n").unwrap();
        assert_eq!(lines.texts, ["a", "b"]);
        assert_eq!(
            parse(Format::Text, "甲\n\n乙\n".as_bytes()).unwrap().texts,
            ["甲", "", "乙"]
        );
        for (format, body, says) in [
            (Format::Json, &b"  "[..], "empty"),
            (Format::Text, &b"a\n\xff"[..], "offset 2 (line 2)"),
            (Format::Json, &b"{\"inputs\": "[..], "not valid JSON"),
            (
                Format::Json,
                &b"{\"text\": \"a\"}"[..],
                "expected {\"inputs\"",
            ),
            (
                Format::Json,
                &b"{\"inputs\": [\"a\", 3]}"[..],
                "inputs[1] is 3",
            ),
            (
                Format::JsonLines,
                &b"\"a\"\n\n\"b\""[..],
                "line 2: the line is empty",
            ),
            (Format::JsonLines, &b"\"a\"\n[1]"[..], "line 2: expected"),
        ] {
            let e = parse(format, body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(says), "{}", e.message);
        }
    }
}
