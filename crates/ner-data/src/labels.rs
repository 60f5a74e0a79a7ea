//! The label set: the mapping between BIO tag strings and the ids the model predicts. It is fixed by
//! the training data (or a labels file) so that validation/test data and a saved model agree on
//! what each id means.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::error::DataError;
use crate::reader::Sentence;
use crate::report::ReadReport;
use crate::scheme::{parse_tag, Tag};

/// BIO labels with stable ids: `O` is 0, so padding (tag 0) is harmless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSet {
    labels: Vec<String>,
    index: HashMap<String, i64>,
}

impl LabelSet {
    /// From training sentences: `O`, then for each type in sorted order `B-X`, `I-X`. Sorting makes
    /// the ids independent of the order sentences appear in.
    pub fn from_sentences(sentences: &[Sentence]) -> Self {
        let mut types = BTreeSet::new();
        for s in sentences {
            for t in &s.tags {
                if let Ok(Tag::Prefixed { kind, .. }) = parse_tag(t) {
                    types.insert(kind.to_string());
                }
            }
        }
        Self::from_types(types)
    }

    /// From entity types: `O`, then `B-X`, `I-X` for each type in the order given.
    pub fn from_types<S: AsRef<str>>(types: impl IntoIterator<Item = S>) -> Self {
        let mut labels = vec!["O".to_string()];
        for t in types {
            labels.push(format!("B-{}", t.as_ref()));
            labels.push(format!("I-{}", t.as_ref()));
        }
        Self::from_labels_unchecked(labels)
    }

    /// From a labels file, one label per line, in the file's order (so a model's ids can be
    /// pinned). `O` must be present and come first; every `I-X` needs its `B-X`.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::from_io(path, e))?;
        Self::parse(path, &text)
    }

    /// From label names in id order, e.g. a saved model's `id2label`, checked as [`Self::from_file`]
    /// checks a file (`source` names where they came from in errors).
    pub fn from_labels(labels: &[String], source: &Path) -> Result<Self, DataError> {
        Self::parse(source, &labels.join("\n"))
    }

    fn parse(path: &Path, text: &str) -> Result<Self, DataError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut labels: Vec<(usize, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let label = line.trim();
            if label.is_empty() {
                continue;
            }
            let bad = |reason: &str| DataError::BadLabel {
                path: path.to_path_buf(),
                line: i + 1,
                value: label.to_string(),
                reason: reason.to_string(),
            };
            match parse_tag(label) {
                Ok(Tag::O) => {}
                Ok(Tag::Prefixed {
                    prefix: 'B' | 'I', ..
                }) => {}
                Ok(_) => return Err(bad("labels must be BIO (O, B-X, I-X)")),
                Err(reason) => return Err(bad(reason)),
            }
            if labels.iter().any(|(_, l)| l == label) {
                return Err(bad("duplicate label"));
            }
            if labels.is_empty() && label != "O" {
                return Err(bad("the first label must be O (id 0 is used for padding)"));
            }
            labels.push((i + 1, label.to_string()));
        }
        if labels.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        for (line, l) in &labels {
            if let Some(kind) = l.strip_prefix("I-") {
                if !labels
                    .iter()
                    .any(|(_, b)| b.strip_prefix("B-") == Some(kind))
                {
                    return Err(DataError::BadLabel {
                        path: path.to_path_buf(),
                        line: *line,
                        value: l.clone(),
                        reason: format!("no B-{kind} in the file"),
                    });
                }
            }
        }
        Ok(Self::from_labels_unchecked(
            labels.into_iter().map(|(_, l)| l).collect(),
        ))
    }

    fn from_labels_unchecked(labels: Vec<String>) -> Self {
        let index = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as i64))
            .collect();
        LabelSet { labels, index }
    }

    /// The id of a label, `None` if the model cannot produce it.
    pub fn id(&self, label: &str) -> Option<i64> {
        self.index.get(label).copied()
    }

    /// The label of an id. Panics on an id outside the set: that is a model/label-set mismatch, a
    /// programming error rather than a data error.
    pub fn name(&self, id: i64) -> &str {
        &self.labels[usize::try_from(id).expect("label id must be non-negative")]
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Entity types in label order (each type once).
    pub fn types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.labels {
            if let Some(k) = l
                .get(2..)
                .filter(|_| l.len() > 2 && l.as_bytes()[1] == b'-')
            {
                if !out.iter().any(|t| t == k) {
                    out.push(k.to_string());
                }
            }
        }
        out
    }

    /// Writes one label per line, the format `from_file` reads, so a saved model keeps its ids.
    pub fn to_file_contents(&self) -> String {
        let mut s = self.labels.join("\n");
        s.push('\n');
        s
    }

    /// Refuses sentences (read from `report.path`) that use a label this set does not contain,
    /// naming the file, line and label. For char-tag files the line is the character's own line;
    /// for JSON formats it is the sentence's line.
    pub fn check(&self, sentences: &[Sentence], report: &ReadReport) -> Result<(), DataError> {
        let per_char_lines = report.format == ner_settings::DataFormat::CharTag;
        for s in sentences {
            for (i, t) in s.tags.iter().enumerate() {
                if self.id(t).is_none() {
                    return Err(DataError::UnknownLabel {
                        path: report.path.clone(),
                        line: if per_char_lines { s.line + i } else { s.line },
                        label: t.clone(),
                        known: self.labels.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_lookup() {
        let s = Sentence {
            chars: "abcd".chars().collect(),
            tags: ["B-PER", "I-PER", "O", "B-LOC"].map(String::from).to_vec(),
            line: 1,
            tokens: Vec::new(),
        };
        let l = LabelSet::from_sentences(&[s]);
        assert_eq!(l.labels(), ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]);
        assert_eq!(l.id("B-PER"), Some(3));
        assert_eq!(l.id("B-ORG"), None);
        assert_eq!(l.name(2), "I-LOC");
        assert_eq!(l.types(), ["LOC", "PER"]);
        assert_eq!(l.len(), 5);
    }

    #[test]
    fn labels_file_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.txt");
        let l = LabelSet::from_types(["PER", "LOC"]);
        std::fs::write(&p, l.to_file_contents()).unwrap();
        assert_eq!(LabelSet::from_file(&p).unwrap(), l);
        std::fs::write(&p, "O\nB-PER\nI-LOC\n").unwrap();
        let e = LabelSet::from_file(&p).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("I-LOC"), "{e}");
        std::fs::write(&p, "B-PER\nO\n").unwrap();
        assert!(LabelSet::from_file(&p).is_err());
        assert_eq!(
            LabelSet::from_labels(l.labels(), Path::new("config.json")).unwrap(),
            l
        );
        let e = LabelSet::from_labels(&["O".into(), "O".into()], Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json:2:") && e.contains("duplicate"),
            "{e}"
        );
        std::fs::write(&p, "O\nX-PER\n").unwrap();
        let e = LabelSet::from_file(&p).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("X-PER"), "{e}");
    }
}
