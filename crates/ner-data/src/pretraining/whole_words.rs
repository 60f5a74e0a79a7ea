//! Whole words for Chinese whole-word masking: a word segmenter (jieba, with its HMM for words its
//! dictionary lacks) says where words end, the BERT tokenizer makes the pieces, and a masking unit is
//! the pieces of one word. A character the segmenter leaves alone is a unit of its own, and a word is
//! never cut inside one of the tokenizer's units (a Latin word's pieces stay together).

use jieba_rs::Jieba;

use crate::tokenizer::{is_whitespace, Tokenizer};

/// One line's word pieces and how they group into whole words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WordPieces {
    pub ids: Vec<i64>,
    /// Pieces per whole word, in order; they sum to `ids.len()`.
    pub word_lengths: Vec<usize>,
}

/// The segmenter and the tokenizer.
pub struct WholeWordTokenizer {
    jieba: Jieba,
    tokenizer: Tokenizer,
}

impl WholeWordTokenizer {
    /// Loads jieba's bundled dictionary (a fraction of a second).
    pub fn new(tokenizer: Tokenizer) -> Self {
        WholeWordTokenizer {
            jieba: Jieba::new(),
            tokenizer,
        }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The pieces of `text` grouped by word. Whitespace separates words and is dropped, as BERT's
    /// pre-training drops it.
    pub fn split(&self, text: &str) -> WordPieces {
        let chars: Vec<char> = text.chars().collect();
        let mut word_end = vec![false; chars.len() + 1];
        let mut at = 0;
        for word in self.jieba.cut(text, true) {
            at += word.chars().count();
            word_end[at.min(chars.len())] = true;
        }
        let tokenized = self.tokenizer.tokenize(&chars);
        let mut out = WordPieces::default();
        let mut open = 0;
        for unit in &tokenized.units {
            if chars[unit.chars.start..unit.chars.end]
                .iter()
                .all(|&c| is_whitespace(c))
            {
                if open > 0 {
                    out.word_lengths.push(std::mem::take(&mut open));
                }
                continue;
            }
            out.ids
                .extend_from_slice(&tokenized.ids[unit.pieces.clone()]);
            open += unit.pieces.len();
            if word_end[unit.chars.end] {
                out.word_lengths.push(std::mem::take(&mut open));
            }
        }
        if open > 0 {
            out.word_lengths.push(open);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tokenizer() -> WholeWordTokenizer {
        let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
        WholeWordTokenizer::new(Tokenizer::from_vocab_file(&vocab, true).unwrap())
    }

    /// The words as strings, by joining each word's pieces.
    fn words(t: &WholeWordTokenizer, text: &str) -> Vec<String> {
        let wp = t.split(text);
        assert_eq!(wp.word_lengths.iter().sum::<usize>(), wp.ids.len());
        let mut at = 0;
        wp.word_lengths
            .iter()
            .map(|&n| {
                let w: Vec<&str> = wp.ids[at..at + n]
                    .iter()
                    .map(|&id| t.tokenizer().token(id).unwrap())
                    .collect();
                at += n;
                w.join(" ")
            })
            .collect()
    }

    #[test]
    fn chinese_words_are_units_and_each_character_one_piece() {
        let t = tokenizer();
        assert_eq!(
            words(&t, "我们在北京大学学习"),
            ["我 们", "在", "北 京 大 学", "学 习"]
        );
    }

    #[test]
    fn latin_words_keep_their_pieces_together_and_whitespace_is_dropped() {
        let t = tokenizer();
        let w = words(&t, "用 transformers 训练");
        assert_eq!(w.first().unwrap(), "用");
        assert_eq!(w.last().unwrap(), "训 练");
        assert_eq!(w.len(), 3, "{w:?}");
        // One word of several pieces: the first, then its `##` continuations.
        let pieces: Vec<&str> = w[1].split(' ').collect();
        assert!(
            pieces.len() > 1 && pieces[1..].iter().all(|p| p.starts_with("##")),
            "{w:?}"
        );
        assert_eq!(w[1].replace(" ##", ""), "transformers");
    }
}
