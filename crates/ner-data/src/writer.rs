//! Writing predictions back in the formats the readers accept, so a prediction file can be fed to
//! the same evaluator (or reader) as the gold file it came from.

use serde_json::{json, Map, Value};

use crate::metrics::chunks;
use ner_settings::DataFormat;

use crate::reader::Sentence;

/// One sentence as `char TAG` lines plus the blank line that ends it. A newline or carriage return
/// inside a sentence cannot be written as a character line, so it is written as a space (which the
/// reader reads back as one character, keeping every offset).
pub fn char_tag_lines<S: AsRef<str>>(chars: &[char], tags: &[S]) -> String {
    assert_eq!(chars.len(), tags.len(), "one tag per character");
    let mut out = String::with_capacity(chars.len() * 8);
    for (c, t) in chars.iter().zip(tags) {
        push_line(&mut out, std::slice::from_ref(c), t.as_ref());
    }
    out.push('\n');
    out
}

/// One `TOKEN TAG` line. A newline or carriage return cannot be written inside a line, so it is
/// written as a space (which the reader reads back as one character, keeping every offset).
fn push_line(out: &mut String, token: &[char], tag: &str) {
    out.extend(
        token
            .iter()
            .map(|&c| if c == '\n' || c == '\r' { ' ' } else { c }),
    );
    out.push(' ');
    out.push_str(tag);
    out.push('\n');
}

/// One sentence as `TOKEN TAG` lines, one per token of the file it was read from (see
/// [`Sentence::tokens`]), each token with the tag of its first character; then the blank line.
/// With one-character tokens this is [`char_tag_lines`].
pub fn token_tag_lines<S: AsRef<str>>(s: &Sentence, char_tags: &[S]) -> String {
    assert_eq!(s.chars.len(), char_tags.len(), "one tag per character");
    let mut out = String::with_capacity(s.chars.len() * 8);
    for token in s.token_ranges() {
        push_line(
            &mut out,
            &s.chars[token.clone()],
            char_tags[token.start].as_ref(),
        );
    }
    out.push('\n');
    out
}

/// One sentence as a CLUENER JSON line (`label: {type: {entity text: [[start, end_inclusive]]}}`),
/// entities read from BIO tags with conlleval semantics.
pub fn cluener_line<S: AsRef<str>>(chars: &[char], tags: &[S]) -> String {
    assert_eq!(chars.len(), tags.len(), "one tag per character");
    let mut label: Map<String, Value> = Map::new();
    for c in chunks(tags) {
        let text: String = chars[c.start..c.end].iter().collect();
        let by_text = label
            .entry(c.kind.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let spans = by_text
            .as_object_mut()
            .expect("built as an object")
            .entry(text)
            .or_insert_with(|| Value::Array(Vec::new()));
        spans
            .as_array_mut()
            .expect("built as an array")
            .push(json!([c.start, c.end - 1]));
    }
    let text: String = chars.iter().collect();
    json!({ "text": text, "label": label }).to_string()
}

/// One sentence as a span JSON line (`entities: [{start, end (exclusive), type, text}]`).
pub fn span_jsonl_line<S: AsRef<str>>(chars: &[char], tags: &[S]) -> String {
    assert_eq!(chars.len(), tags.len(), "one tag per character");
    let entities: Vec<Value> = chunks(tags)
        .into_iter()
        .map(|c| {
            let text: String = chars[c.start..c.end].iter().collect();
            json!({ "start": c.start, "end": c.end, "type": c.kind, "text": text })
        })
        .collect();
    let text: String = chars.iter().collect();
    json!({ "text": text, "entities": entities }).to_string()
}

/// One sentence in `format` (`Auto` writes `char TAG`), ending with a newline.
pub fn format_sentence<S: AsRef<str>>(format: DataFormat, chars: &[char], tags: &[S]) -> String {
    match format {
        DataFormat::Auto | DataFormat::CharTag => char_tag_lines(chars, tags),
        DataFormat::Cluener => cluener_line(chars, tags) + "\n",
        DataFormat::SpanJsonl => span_jsonl_line(chars, tags) + "\n",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::reader::{read_bytes, ReadOptions};

    #[test]
    fn round_trips_through_the_readers() {
        let chars: Vec<char> = "张三 在北京\u{3000}".chars().collect();
        let tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"];
        for f in [
            DataFormat::CharTag,
            DataFormat::Cluener,
            DataFormat::SpanJsonl,
        ] {
            let text = format_sentence(f, &chars, &tags);
            let (s, _) = read_bytes(
                Path::new("x"),
                text.as_bytes(),
                DataFormat::Auto,
                ReadOptions::default(),
            )
            .unwrap();
            assert_eq!(s[0].chars, chars, "{f:?}");
            assert_eq!(s[0].tags, tags, "{f:?}");
        }
    }
}
