//! Text files to packed sequences, streamed: [`TextLines`] → [`WholeWordTokenizer`] → [`Packer`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::packing::{PackedSequence, Packer, SequenceLayout};
use super::text_lines::{text_files, TextItem, TextLines};
use super::whole_words::WholeWordTokenizer;
use crate::error::DataError;

/// The packed sequences of text files, in order. Yields at least one sequence or an error: files
/// with no text at all are [`DataError::NoText`] naming their directory.
pub struct PackedStream {
    source: PathBuf,
    lines: TextLines,
    words: Arc<WholeWordTokenizer>,
    packer: Option<Packer>,
    ready: VecDeque<PackedSequence>,
    produced: u64,
}

impl PackedStream {
    /// The stream of `files` (a channel's, as [`text_files`] lists them), sequences of up to
    /// `max_len` pieces laid out as `layout` says.
    pub fn new(
        files: Vec<PathBuf>,
        words: Arc<WholeWordTokenizer>,
        max_len: usize,
        layout: SequenceLayout,
    ) -> Self {
        let source = match files.as_slice() {
            [one] => one.clone(),
            _ => files
                .first()
                .and_then(|f| f.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        let t = words.tokenizer();
        let packer = Packer::new(max_len, layout, t.cls_id(), t.sep_id());
        PackedStream {
            source,
            lines: TextLines::new(files),
            words,
            packer: Some(packer),
            ready: VecDeque::new(),
            produced: 0,
        }
    }

    /// The stream of a directory's text files (or of one file).
    pub fn open(
        source: &Path,
        words: Arc<WholeWordTokenizer>,
        max_len: usize,
        layout: SequenceLayout,
    ) -> Result<Self, DataError> {
        Ok(Self::new(text_files(source)?, words, max_len, layout))
    }

    /// Sequences yielded so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    fn fill(&mut self) -> Result<(), DataError> {
        while self.ready.is_empty() {
            let Some(packer) = self.packer.as_mut() else {
                return Ok(());
            };
            match self.lines.next().transpose()? {
                Some(TextItem::Line { text, .. }) => {
                    let pieces = self.words.split(&text);
                    self.ready.extend(packer.push(&pieces));
                }
                Some(TextItem::DocumentEnd) => self.ready.extend(packer.end_document()),
                None => {
                    let last = self.packer.take().and_then(Packer::finish);
                    self.ready.extend(last);
                    if self.produced == 0 && self.ready.is_empty() {
                        return Err(DataError::NoText {
                            path: self.source.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Iterator for PackedStream {
    type Item = Result<PackedSequence, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            self.packer = None;
            self.ready.clear();
            return Some(Err(e));
        }
        let s = self.ready.pop_front()?;
        self.produced += 1;
        Some(Ok(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Tokenizer;

    fn words() -> Arc<WholeWordTokenizer> {
        let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
        Arc::new(WholeWordTokenizer::new(
            Tokenizer::from_vocab_file(&vocab, true).unwrap(),
        ))
    }

    #[test]
    fn every_character_of_the_text_is_in_exactly_one_sequence_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let text = "北京是中国的首都。\n上海是一座大城市。\n\n广州在南方。\n";
        std::fs::write(dir.path().join("a.txt"), text).unwrap();
        let w = words();
        let seqs: Vec<PackedSequence> =
            PackedStream::open(dir.path(), w.clone(), 12, SequenceLayout::Packed)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert!(seqs.len() >= 2 && seqs.iter().all(|s| s.ids.len() <= 12));
        let t = w.tokenizer();
        let mut content = String::new();
        for s in &seqs {
            assert_eq!(s.ids[0], t.cls_id());
            assert_eq!(*s.ids.last().unwrap(), t.sep_id());
            for r in &s.words {
                for &id in &s.ids[r.clone()] {
                    content.push_str(t.token(id).unwrap());
                }
            }
        }
        assert_eq!(content, text.replace('\n', ""));
    }

    #[test]
    fn an_empty_or_blank_channel_is_no_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blank.txt"), "\n  \n\n").unwrap();
        let mut s = PackedStream::open(dir.path(), words(), 16, SequenceLayout::Packed).unwrap();
        let e = s.next().unwrap().unwrap_err().to_string();
        assert!(e.contains("no text"), "{e}");
        assert!(s.next().is_none());
    }
}
