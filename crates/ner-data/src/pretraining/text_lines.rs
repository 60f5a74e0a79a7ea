//! A channel's text files read one line at a time, never whole: what a multi-gigabyte corpus needs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// Longer lines are refused rather than read into memory whole (a file with no line breaks).
const MAX_LINE_BYTES: usize = 64 << 20;

/// The regular files under `dir` (recursively, hidden names skipped), in path order: a channel's
/// files as SageMaker lays them out in File and FastFile mode. A file given instead of a directory is
/// itself the list. An empty list is an error naming `dir`.
pub fn text_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    collect(dir, &mut out)?;
    out.sort();
    if out.is_empty() {
        return Err(DataError::NoText {
            path: dir.to_path_buf(),
        });
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::from_io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::from_io(dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// What [`TextLines`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextItem {
    /// A non-blank line, without its line break, with the file's index and its 1-based number.
    Line {
        text: String,
        file: usize,
        line: usize,
    },
    /// A blank line or the end of a file after some text.
    DocumentEnd,
}

/// The lines of `files`, in order. Bytes that are not UTF-8 and NUL bytes (a binary file) end the
/// stream with an error naming the file, line and byte offset.
pub struct TextLines {
    files: Vec<PathBuf>,
    next_file: usize,
    open: Option<OpenFile>,
    buf: Vec<u8>,
}

struct OpenFile {
    index: usize,
    reader: BufReader<File>,
    line: usize,
    offset: usize,
    in_document: bool,
}

impl TextLines {
    pub fn new(files: Vec<PathBuf>) -> Self {
        TextLines {
            files,
            next_file: 0,
            open: None,
            buf: Vec::new(),
        }
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn next_item(&mut self) -> Result<Option<TextItem>, DataError> {
        loop {
            if self.open.is_none() {
                let Some(path) = self.files.get(self.next_file) else {
                    return Ok(None);
                };
                let file = File::open(path).map_err(|e| DataError::from_io(path, e))?;
                let mut reader = BufReader::with_capacity(1 << 20, file);
                // A binary file is found at its start, before a line of it is looked for.
                let head = reader.fill_buf().map_err(|e| DataError::from_io(path, e))?;
                if let Some(at) = head.iter().take(8192).position(|&b| b == 0) {
                    return Err(DataError::Binary {
                        path: path.clone(),
                        line: 1 + head[..at].iter().filter(|&&b| b == b'\n').count(),
                        offset: at,
                    });
                }
                self.open = Some(OpenFile {
                    index: self.next_file,
                    reader,
                    line: 0,
                    offset: 0,
                    in_document: false,
                });
                self.next_file += 1;
            }
            let f = self.open.as_mut().expect("a file is open");
            let path = &self.files[f.index];
            self.buf.clear();
            let n = (&mut f.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| DataError::from_io(path, e))?;
            if n > MAX_LINE_BYTES {
                return Err(DataError::Malformed {
                    path: path.clone(),
                    line: f.line + 1,
                    value: String::from_utf8_lossy(&self.buf[..40]).into_owned(),
                    reason: format!(
                        "a line of more than {} MiB: not text?",
                        MAX_LINE_BYTES >> 20
                    ),
                });
            }
            if n == 0 {
                let ended = f.in_document;
                self.open = None;
                if ended {
                    return Ok(Some(TextItem::DocumentEnd));
                }
                continue;
            }
            f.line += 1;
            let start = f.offset;
            f.offset += n;
            let text = line_text(path, f.line, start, &self.buf)?;
            if text.trim().is_empty() {
                if std::mem::take(&mut f.in_document) {
                    return Ok(Some(TextItem::DocumentEnd));
                }
                continue;
            }
            f.in_document = true;
            return Ok(Some(TextItem::Line {
                text,
                file: f.index,
                line: f.line,
            }));
        }
    }
}

/// The line's text without its `\n` / `\r\n`; `start` is its byte offset in the file.
fn line_text(path: &Path, line: usize, start: usize, bytes: &[u8]) -> Result<String, DataError> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(DataError::Binary {
            path: path.to_path_buf(),
            line,
            offset: start + at,
        });
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    match std::str::from_utf8(body) {
        Ok(s) => Ok(s.trim_start_matches('\u{feff}').to_string()),
        Err(e) => Err(DataError::InvalidUtf8 {
            path: path.to_path_buf(),
            line,
            offset: start + e.valid_up_to(),
            byte: body[e.valid_up_to()],
        }),
    }
}

impl Iterator for TextLines {
    type Item = Result<TextItem, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                // An error ends the stream.
                self.next_file = self.files.len();
                self.open = None;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Result<Vec<TextItem>, DataError>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let items = text_files(dir.path()).and_then(|f| TextLines::new(f).collect());
        (dir, items)
    }

    fn line(text: &str, file: usize, line: usize) -> TextItem {
        TextItem::Line {
            text: text.into(),
            file,
            line,
        }
    }

    #[test]
    fn blank_lines_and_file_ends_close_documents_in_path_order() {
        let (_d, items) = lines_of(&[
            ("b/2.txt", b"\xef\xbb\xbfthird\r\n"),
            ("a.txt", b"one\ntwo\n\n  \n\nnext\n"),
            (".hidden", b"never read\n"),
        ]);
        assert_eq!(
            items.unwrap(),
            vec![
                line("one", 0, 1),
                line("two", 0, 2),
                TextItem::DocumentEnd,
                line("next", 0, 6),
                TextItem::DocumentEnd,
                line("third", 1, 1),
                TextItem::DocumentEnd,
            ]
        );
    }

    #[test]
    fn invalid_utf8_and_binary_name_file_line_and_offset() {
        let (_d, items) = lines_of(&[("t.txt", b"ok\nfine\nbad \xff here\n")]);
        let e = items.unwrap_err().to_string();
        assert!(
            e.ends_with("t.txt:3: invalid UTF-8 at byte offset 12 (byte 0xff)"),
            "{e}"
        );
        let (_d, items) = lines_of(&[("model.bin", b"PK\x03\x04\x00\x01")]);
        let e = items.unwrap_err().to_string();
        assert!(
            e.contains("model.bin:1: a binary file (NUL byte at offset 4)"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_channel_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = text_files(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&dir.path().display().to_string()) && e.contains("no text"),
            "{e}"
        );
    }
}
