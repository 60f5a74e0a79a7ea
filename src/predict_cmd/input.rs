//! The input of `predict`, read in chunks of whole lines so that memory stays bounded whatever the file's
//! size: each line checked (UTF-8, BOM, CR) and numbered as it is read.

use std::io::{BufRead, BufReader, Read};

use anyhow::{anyhow, Context, Result};

/// How much text one chunk holds at most; tagging sorts a chunk's windows by length, so larger chunks batch
/// better and cost memory in proportion (≈ 80 bytes of results per input byte).
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    pub lines: usize,
    pub bytes: usize,
}

/// Consecutive input lines, the first being line `first_line` (1-based).
pub struct Chunk {
    pub first_line: usize,
    pub lines: Vec<String>,
}

/// Reads `input` (`-`: stdin) chunk by chunk.
pub struct LineChunks {
    reader: Box<dyn BufRead>,
    name: String,
    limits: ChunkLimits,
    /// Lines read so far.
    lines_read: usize,
    /// Bytes read so far, line endings included.
    bytes_read: u64,
    /// The file's size where it is a regular file (for progress), else None.
    total_bytes: Option<u64>,
    done: bool,
}

impl LineChunks {
    pub fn open(input: &str, limits: ChunkLimits) -> Result<Self> {
        let (reader, name, total_bytes): (Box<dyn Read>, String, Option<u64>) = if input == "-" {
            (Box::new(std::io::stdin()), "<stdin>".to_string(), None)
        } else {
            let file = std::fs::File::open(input).with_context(|| format!("opening {input}"))?;
            let meta = file
                .metadata()
                .with_context(|| format!("reading {input}"))?;
            let size = meta.is_file().then_some(meta.len());
            (Box::new(file), input.to_string(), size)
        };
        Ok(Self {
            reader: Box::new(BufReader::with_capacity(1 << 16, reader)),
            name,
            limits,
            lines_read: 0,
            bytes_read: 0,
            total_bytes,
            done: false,
        })
    }

    /// The input's name in messages (`<stdin>` or the path).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// The next chunk, or None at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let first_line = self.lines_read + 1;
        let mut lines = Vec::new();
        let mut bytes = 0usize;
        while !self.done && lines.len() < self.limits.lines && bytes < self.limits.bytes {
            match self.next_line()? {
                Some(line) => {
                    bytes += line.len() + 1;
                    lines.push(line);
                }
                None => self.done = true,
            }
        }
        Ok((!lines.is_empty()).then_some(Chunk { first_line, lines }))
    }

    /// One line without its ending; a BOM at the start of the input and a CR before the LF are removed,
    /// invalid UTF-8 names the line.
    fn next_line(&mut self) -> Result<Option<String>> {
        let mut raw = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading {}", self.name))?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes_read += n as u64;
        self.lines_read += 1;
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        let mut text = String::from_utf8(raw).map_err(|e| {
            anyhow!(
                "{}:{}: invalid UTF-8 at byte {} of the line",
                self.name,
                self.lines_read,
                e.utf8_error().valid_up_to()
            )
        })?;
        if self.lines_read == 1 {
            if let Some(rest) = text.strip_prefix('\u{feff}') {
                text = rest.to_string();
            }
        }
        if text.ends_with('\r') {
            text.pop();
        }
        Ok(Some(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunks_of(text: &[u8], lines: usize, bytes: usize) -> Vec<(usize, Vec<String>)> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text).unwrap();
        let path = file.path().to_str().unwrap().to_string();
        let mut reader = LineChunks::open(&path, ChunkLimits { lines, bytes }).unwrap();
        assert_eq!(reader.total_bytes(), Some(text.len() as u64));
        let mut out = Vec::new();
        while let Some(c) = reader.next_chunk().unwrap() {
            out.push((c.first_line, c.lines));
        }
        assert_eq!(reader.bytes_read(), text.len() as u64);
        out
    }

    #[test]
    fn chunks_hold_whole_lines_in_order_and_number_them() {
        let got = chunks_of("\u{feff}一\r\n二\n\n四\n五".as_bytes(), 2, 1 << 20);
        let want: Vec<(usize, Vec<String>)> = vec![
            (1, vec!["一".into(), "二".into()]),
            (3, vec!["".into(), "四".into()]),
            (5, vec!["五".into()]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_chunk_ends_once_it_reaches_its_byte_limit() {
        let got = chunks_of("一二三\n四\n五\n".as_bytes(), 100, 8);
        // "一二三\n" is 10 bytes: the chunk is full after it.
        assert_eq!(got[0], (1, vec!["一二三".to_string()]));
        assert_eq!(got[1], (2, vec!["四".to_string(), "五".to_string()]));
    }

    #[test]
    fn invalid_utf8_names_the_line_and_byte() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"ok\nab\xffc\n").unwrap();
        let path = file.path().to_str().unwrap().to_string();
        let mut reader = LineChunks::open(
            &path,
            ChunkLimits {
                lines: 1,
                bytes: 100,
            },
        )
        .unwrap();
        assert!(reader.next_chunk().unwrap().is_some());
        let err = reader.next_chunk().err().unwrap().to_string();
        assert_eq!(
            err,
            format!("{path}:2: invalid UTF-8 at byte 2 of the line")
        );
    }
}
