//! Pretrained character vectors in word2vec's text format (`token v1 v2 ...` per line, with or without
//! the `count dim` header line), as BiLSTM-CRF users have them, and which vocabulary rows they fill.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::tokenizer::Tokenizer;

/// The vectors of one file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct WordVectors {
    pub path: PathBuf,
    /// Values per vector.
    pub dim: usize,
    pub entries: Vec<(String, Vec<f32>)>,
}

/// The vocabulary rows a file's vectors fill, for the character table.
#[derive(Clone, Debug, PartialEq)]
pub struct VocabRows {
    /// Vocabulary ids, each once.
    pub ids: Vec<i64>,
    /// `ids.len() × dim` values, row by row.
    pub values: Vec<f32>,
    pub vocab_size: usize,
    /// Vectors in the file whose token is no vocabulary entry (nor, with lower-casing, its lower case).
    pub unmatched: usize,
    pub file_entries: usize,
}

impl fmt::Display for VocabRows {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} of {} vocabulary entries ({:.1}%) have a pretrained vector; {} of the file's {} vectors \
             match no entry",
            self.ids.len(),
            self.vocab_size,
            100.0 * self.ids.len() as f64 / self.vocab_size.max(1) as f64,
            self.unmatched,
            self.file_entries
        )
    }
}

impl WordVectors {
    /// Reads a word2vec text file. A malformed line (a value that is not a number, a vector of
    /// another length than the header's or the first vector's) is an error naming the file, the
    /// line and the value.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::from_io(path, e))?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let at = e.valid_up_to();
            DataError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1,
                offset: at,
                byte: bytes[at],
            }
        })?;
        let malformed = |line: usize, value: &str, reason: String| DataError::Malformed {
            path: path.to_path_buf(),
            line,
            value: value.to_string(),
            reason,
        };
        let mut dim: Option<usize> = None;
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fields: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            let Some((token, values)) = fields.split_first() else {
                continue;
            };
            if entries.is_empty() && dim.is_none() && values.len() == 1 {
                if let (Ok(_), Ok(d)) = (token.parse::<usize>(), values[0].parse::<usize>()) {
                    dim = Some(d);
                    continue;
                }
            }
            let vector = values
                .iter()
                .map(|v| {
                    v.parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            malformed(
                                line,
                                v,
                                format!("a value of {token:?}'s vector is not a finite number"),
                            )
                        })
                })
                .collect::<Result<Vec<f32>, _>>()?;
            let expected = *dim.get_or_insert(vector.len());
            if vector.len() != expected || expected == 0 {
                return Err(malformed(
                    line,
                    token,
                    format!(
                        "{} values, expected {expected} (the header's or the first vector's)",
                        vector.len()
                    ),
                ));
            }
            entries.push((token.to_string(), vector));
        }
        match dim {
            Some(dim) if !entries.is_empty() => Ok(WordVectors {
                path: path.to_path_buf(),
                dim,
                entries,
            }),
            _ => Err(DataError::NoVectors {
                path: path.to_path_buf(),
            }),
        }
    }

    /// The vocabulary rows these vectors fill: a token's own entry, else (when the tokenizer lower-cases)
    /// its lower case's; the first vector for an entry wins.
    pub fn rows_for(&self, tokenizer: &Tokenizer) -> VocabRows {
        let mut taken = vec![false; tokenizer.vocab_size()];
        let mut rows = VocabRows {
            ids: Vec::new(),
            values: Vec::new(),
            vocab_size: tokenizer.vocab_size(),
            unmatched: 0,
            file_entries: self.entries.len(),
        };
        for (token, vector) in &self.entries {
            let id = tokenizer.id(token).or_else(|| {
                tokenizer
                    .do_lower_case()
                    .then(|| tokenizer.id(&token.to_lowercase()))
                    .flatten()
            });
            match id {
                Some(id) if !taken[id as usize] => {
                    taken[id as usize] = true;
                    rows.ids.push(id);
                    rows.values.extend_from_slice(vector);
                }
                Some(_) => {}
                None => rows.unmatched += 1,
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Tokenizer {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[unused1]\n中\n国\nab\n";
        Tokenizer::from_vocab_str(Path::new("vocab.txt"), vocab, true).unwrap()
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chars.vec");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_with_and_without_the_header_and_maps_to_vocabulary_rows() {
        for text in [
            "3 2\n中 0.5 -1\nAB 1e-1 2\n外 3 4\n",
            "中 0.5 -1\r\nAB 1e-1 2\r\n\r\n外 3 4\r\n",
        ] {
            let (_d, path) = write(text);
            let v = WordVectors::read(&path).unwrap();
            assert_eq!(v.dim, 2);
            assert_eq!(v.entries.len(), 3);
            let rows = v.rows_for(&tokenizer());
            assert_eq!(rows.ids, vec![5, 7], "中 exactly, AB through lower case");
            assert_eq!(rows.values, vec![0.5, -1.0, 0.1, 2.0]);
            assert_eq!(rows.unmatched, 1);
            assert_eq!(
                rows.to_string(),
                "2 of 8 vocabulary entries (25.0%) have a pretrained vector; 1 of the file's 3 vectors match no entry"
            );
        }
    }

    #[test]
    fn bad_lines_name_file_line_and_value() {
        let (_d, path) = write("2 3\n中 1 2 3\n国 1 x 3\n");
        let err = WordVectors::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("chars.vec:3") && err.contains("\"x\""),
            "{err}"
        );
        let (_d, path) = write("中 1 2 3\n国 1 2\n");
        let err = WordVectors::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("chars.vec:2") && err.contains("2 values, expected 3"),
            "{err}"
        );
        let (_d, path) = write("\n\n");
        let err = WordVectors::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("chars.vec") && err.contains("no vectors"),
            "{err}"
        );
    }
}
