//! Tag schemes. Datasets come in BIO, BIOES and BMES; the model only ever sees BIO, because the
//! label set (and therefore the CRF) should not depend on how an annotator chose to spell the same
//! entities.

use serde::{Deserialize, Serialize};

/// The scheme a file was written in, detected from the prefixes it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagScheme {
    /// Only B-, I-, O.
    Bio,
    /// Uses E- or S- (end / single) but never M-.
    Bioes,
    /// Uses M- (middle), as in the Resume and Weibo corpora.
    Bmes,
}

impl std::fmt::Display for TagScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TagScheme::Bio => "BIO",
            TagScheme::Bioes => "BIOES",
            TagScheme::Bmes => "BMES",
        })
    }
}

/// A parsed tag: the prefix letter and the entity type; kept borrowed so parsing a large file does
/// not allocate per character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag<'a> {
    /// Outside any entity.
    O,
    /// A prefixed tag: `prefix` is one of B, I, E, S, M.
    Prefixed { prefix: char, kind: &'a str },
}

/// Why a tag string was refused; the reader turns it into a `DataError::UnknownTag`.
pub fn parse_tag(tag: &str) -> Result<Tag<'_>, &'static str> {
    if tag == "O" {
        return Ok(Tag::O);
    }
    let mut it = tag.chars();
    let prefix = it.next().ok_or("empty tag")?;
    if it.next() != Some('-') {
        return Err("expected O or a prefix B-, I-, E-, S-, M- followed by a type");
    }
    if !matches!(prefix, 'B' | 'I' | 'E' | 'S' | 'M') {
        return Err("prefix must be one of B, I, E, S, M");
    }
    let kind = &tag[2..];
    if kind.is_empty() {
        return Err("empty entity type");
    }
    Ok(Tag::Prefixed { prefix, kind })
}

/// The tag a unit's or token's later characters take when its first takes BIO tag `tag`: `I-X`
/// inside an entity of type X, else `O`.
pub fn continuation(tag: &str) -> String {
    match tag.get(2..) {
        Some(kind) if tag.starts_with("B-") || tag.starts_with("I-") => format!("I-{kind}"),
        _ => "O".to_string(),
    }
}

/// Detects the scheme from the prefixes seen: M- means BMES, E-/S- without M- means BIOES.
pub fn detect_scheme<'a>(tags: impl IntoIterator<Item = &'a str>) -> TagScheme {
    let mut scheme = TagScheme::Bio;
    for t in tags {
        match t.as_bytes().first() {
            Some(b'M') if t.as_bytes().get(1) == Some(&b'-') => return TagScheme::Bmes,
            Some(b'E' | b'S') if t.as_bytes().get(1) == Some(&b'-') => scheme = TagScheme::Bioes,
            _ => {}
        }
    }
    scheme
}

/// Converts one sentence's tags to BIO in place (S→B, E→I, M→I) and repairs an I-X that does not
/// continue an entity of type X into B-X, as conlleval reads it. Returns the indices that were
/// repaired so the caller can count and show them.
pub fn to_bio(tags: &mut [String]) -> Vec<usize> {
    let mut repaired = Vec::new();
    let mut prev_kind: Option<String> = None;
    for (i, tag) in tags.iter_mut().enumerate() {
        let parsed = match parse_tag(tag) {
            Ok(Tag::Prefixed { prefix, kind }) => Some((prefix, kind.to_string())),
            _ => None,
        };
        match parsed {
            None => {
                prev_kind = None;
            }
            Some((prefix, kind)) => {
                let inside = matches!(prefix, 'I' | 'E' | 'M');
                let continues = prev_kind.as_deref() == Some(kind.as_str());
                if inside && continues {
                    if prefix != 'I' {
                        *tag = format!("I-{kind}");
                    }
                } else {
                    if inside {
                        repaired.push(i);
                    }
                    if prefix != 'B' {
                        *tag = format!("B-{kind}");
                    }
                }
                // After an end/single tag, a following I-X does not continue it in BIOES, but in
                // BIO terms the entity is only closed by a B or O: keep conlleval's reading.
                prev_kind = Some(kind);
            }
        }
    }
    repaired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(tags: &[&str]) -> (Vec<String>, Vec<usize>) {
        let mut v: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        let r = to_bio(&mut v);
        (v, r)
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_tag("O"), Ok(Tag::O));
        assert_eq!(
            parse_tag("B-PER"),
            Ok(Tag::Prefixed {
                prefix: 'B',
                kind: "PER"
            })
        );
        assert!(parse_tag("X-PER").is_err());
        assert!(parse_tag("B-").is_err());
        assert!(parse_tag("B").is_err());
        assert!(parse_tag("o").is_err());
        assert!(parse_tag("").is_err());
    }

    #[test]
    fn detects() {
        assert_eq!(detect_scheme(["O", "B-A", "I-A"]), TagScheme::Bio);
        assert_eq!(detect_scheme(["O", "S-A", "B-A", "E-A"]), TagScheme::Bioes);
        assert_eq!(detect_scheme(["B-A", "M-A", "E-A"]), TagScheme::Bmes);
    }

    #[test]
    fn converts_bmes_bioes() {
        let (t, r) = conv(&["B-A", "M-A", "E-A", "S-B", "O", "S-A", "B-A", "E-A"]);
        assert_eq!(t, ["B-A", "I-A", "I-A", "B-B", "O", "B-A", "B-A", "I-A"]);
        assert!(r.is_empty());
    }

    #[test]
    fn repairs_orphan_inside() {
        let (t, r) = conv(&["I-A", "I-A", "O", "I-B", "B-A", "I-B"]);
        assert_eq!(t, ["B-A", "I-A", "O", "B-B", "B-A", "B-B"]);
        assert_eq!(r, [0, 3, 5]);
    }
}
