//! The BERT-Chinese tokenizer (vocab.txt of google/bert-base-chinese, used unchanged by albert_zh),
//! reworked so that *every input character belongs to exactly one unit*. NER needs a tag per
//! character, and HF's BertTokenizer silently drops whitespace and control characters, which would
//! shift every later tag.
//!
//! Units:
//! - a CJK character, a punctuation character: one unit, one piece (as BERT splits them);
//! - a run of other characters (Latin letters, digits, ...): one unit, as BERT's BasicTokenizer
//!   yields one word, split into WordPieces (greedy longest match, `##` continuation, a word of more
//!   than 100 characters or with no match becomes a single `[UNK]`);
//! - a whitespace character (which BERT drops): one unit mapped to [`WHITESPACE_TOKEN`]
//!   (`[unused1]`). A reserved entry keeps it distinct from `[UNK]` so the model can learn that a
//!   space is a boundary, and it never collides with real text;
//! - a control character, U+0000 or U+FFFD (which BERT drops): one unit mapped to `[UNK]`.
//!
//! Normalisation follows BERT: with `do_lower_case`, lower-casing then NFD with combining marks
//! (Mn) removed; it is applied for the vocabulary *lookup only*, the unit keeps its original
//! characters. BERT does not NFKC full-width forms, and the vocabulary contains the full-width
//! forms it saw (`ａ`, `１`, `，`, `##１`, ...; it has no upper-case Latin letters of either width), so
//! the exact form is looked up first, which agrees with BERT. Only when a whole unit would become
//! `[UNK]` is it looked up again with full-width ASCII (U+FF01–U+FF5E) folded to half-width: this
//! departs from BERT only where BERT would have produced `[UNK]`, and never changes how a word
//! BERT can spell is split. Characters that BERT deletes inside a word (soft hyphen, zero-width
//! joiner) stay in that word's unit and are skipped for the lookup, as BERT skips them.
//!
//! In the same spirit, curly quotes, long dashes and the ellipsis, which the vocabulary lacks
//! (they are about 1% of MSRA's and CLUENER's characters, often right around an entity), are looked
//! up as their ASCII (or `⋯`) counterparts when, and only when, they would otherwise be `[UNK]`
//! ([`PUNCT_FALLBACK`]). Both fallbacks can be switched off with [`Tokenizer::with_fallbacks`] for
//! exact HF behaviour.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;
use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_normalization::UnicodeNormalization;

use crate::error::DataError;
use crate::reader::Sentence;

/// The vocabulary entry whitespace characters map to.
pub const WHITESPACE_TOKEN: &str = "[unused1]";
/// Characters missing from the BERT-Chinese vocabulary and the entry looked up instead.
pub const PUNCT_FALLBACK: &[(char, &str)] = &[
    ('\u{201C}', "\""), // “
    ('\u{201D}', "\""), // ”
    ('\u{201E}', "\""), // „
    ('\u{2033}', "\""), // ″
    ('\u{2018}', "'"),  // ‘
    ('\u{2019}', "'"),  // ’
    ('\u{201A}', "'"),  // ‚
    ('\u{2032}', "'"),  // ′
    ('\u{2014}', "-"),  // —
    ('\u{2013}', "-"),  // –
    ('\u{2015}', "-"),  // ―
    ('\u{2012}', "-"),  // ‒
    ('\u{2026}', "⋯"),  // …
];

/// BERT's limit on word length before WordPiece gives up.
pub const MAX_CHARS_PER_WORD: usize = 100;

/// What gets one tag: a range of input characters and the range of word pieces it became.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub chars: Range<usize>,
    pub pieces: Range<usize>,
}

/// The result of tokenizing one sentence: pieces (without `[CLS]`/`[SEP]`) and units that cover
/// every character exactly once, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tokenized {
    pub ids: Vec<i64>,
    pub units: Vec<Unit>,
}

/// How much of a dataset the vocabulary cannot represent; a high rate means the model sees
/// `[UNK]` where the annotator saw an entity, which the load report should make visible.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnkStats {
    pub units: usize,
    /// Units that contain an `[UNK]` piece.
    pub unk_units: usize,
    pub chars: usize,
    /// `unk_units / units`.
    pub unk_rate: f64,
    /// The most frequent unknown units (their text) with counts, most frequent first (up to 20).
    pub top_unknown_chars: Vec<(String, usize)>,
}

/// A BERT WordPiece tokenizer that never drops a character.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: HashMap<String, i64>,
    tokens: Vec<String>,
    do_lower_case: bool,
    pad_id: i64,
    unk_id: i64,
    cls_id: i64,
    sep_id: i64,
    space_id: i64,
    fallbacks: bool,
}

impl Tokenizer {
    /// Loads vocab.txt (one token per line; the line number is the id).
    pub fn from_vocab_file(path: &Path, do_lower_case: bool) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::from_io(path, e))?;
        Self::from_vocab_str(path, &text, do_lower_case)
    }

    /// Builds from the contents of a vocab file; `path` is only used in messages.
    pub fn from_vocab_str(path: &Path, text: &str, do_lower_case: bool) -> Result<Self, DataError> {
        let tokens: Vec<String> = text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        let mut vocab = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            // vocab.txt has no duplicates; should one appear, the first id wins.
            vocab.entry(t.clone()).or_insert(i as i64);
        }
        let need = |name: &str| {
            vocab.get(name).copied().ok_or_else(|| DataError::Vocab {
                path: path.to_path_buf(),
                reason: format!("has no {name} entry"),
            })
        };
        Ok(Tokenizer {
            pad_id: need("[PAD]")?,
            unk_id: need("[UNK]")?,
            cls_id: need("[CLS]")?,
            sep_id: need("[SEP]")?,
            space_id: need(WHITESPACE_TOKEN)?,
            vocab,
            tokens,
            do_lower_case,
            fallbacks: true,
        })
    }

    /// Switches the `[UNK]`-only fallbacks (full-width fold, [`PUNCT_FALLBACK`]) on (the default) or
    /// off (exact HF BertTokenizer pieces). Training and prediction must use the same setting.
    pub fn with_fallbacks(mut self, on: bool) -> Self {
        self.fallbacks = on;
        self
    }

    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }
    pub fn unk_id(&self) -> i64 {
        self.unk_id
    }
    pub fn cls_id(&self) -> i64 {
        self.cls_id
    }
    pub fn sep_id(&self) -> i64 {
        self.sep_id
    }
    /// The id whitespace units map to (`[unused1]`).
    pub fn whitespace_id(&self) -> i64 {
        self.space_id
    }
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }
    pub fn do_lower_case(&self) -> bool {
        self.do_lower_case
    }
    /// The id of a vocabulary entry.
    pub fn id(&self, token: &str) -> Option<i64> {
        self.vocab.get(token).copied()
    }
    /// The vocabulary entry of an id.
    pub fn token(&self, id: i64) -> Option<&str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.tokens.get(i))
            .map(String::as_str)
    }

    /// Splits characters into units and word pieces; every character lands in exactly one unit.
    pub fn tokenize(&self, chars: &[char]) -> Tokenized {
        let mut ids = Vec::with_capacity(chars.len());
        let mut units = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let start_piece = ids.len();
            let end = if is_whitespace(c) {
                ids.push(self.space_id);
                i + 1
            } else if is_dropped_by_bert(c) {
                ids.push(self.unk_id);
                i + 1
            } else if is_cjk(c) || is_punctuation(c) {
                let norm = self.normalize(&[c]);
                ids.push(if norm.is_empty() {
                    self.unk_id
                } else {
                    self.lookup(&norm).unwrap_or(self.unk_id)
                });
                i + 1
            } else {
                // A BasicTokenizer word. Characters BERT deletes (soft hyphen, zero-width joiner...)
                // inside a word are deleted before BERT splits words, so they join it here too.
                let mut end = i + 1;
                while end < chars.len()
                    && (is_word_char(chars[end]) || is_dropped_by_bert(chars[end]))
                {
                    end += 1;
                }
                let word: Vec<char> = chars[i..end]
                    .iter()
                    .copied()
                    .filter(|&c| !is_dropped_by_bert(c))
                    .collect();
                let norm = self.normalize(&word);
                let pieces = self.wordpiece(&norm).or_else(|| {
                    (self.fallbacks && norm.chars().any(is_fullwidth_ascii))
                        .then(|| {
                            self.wordpiece(&norm.chars().map(fold_fullwidth).collect::<String>())
                        })
                        .flatten()
                });
                match pieces {
                    Some(p) => ids.extend(p),
                    None => ids.push(self.unk_id),
                }
                end
            };
            units.push(Unit {
                chars: i..end,
                pieces: start_piece..ids.len(),
            });
            i = end;
        }
        Tokenized { ids, units }
    }

    /// [`Self::tokenize`] that respects a `char TAG` file's tokens: runs of one-character tokens
    /// are tokenised as text (an ASCII run across lines is one word, as before), and each longer
    /// token becomes exactly one unit, its pieces those of its BasicTokenizer words in order.
    pub fn tokenize_sentence(&self, s: &Sentence) -> Tokenized {
        if s.tokens.is_empty() {
            return self.tokenize(&s.chars);
        }
        let mut out = Tokenized {
            ids: Vec::with_capacity(s.chars.len()),
            units: Vec::with_capacity(s.tokens.len()),
        };
        let mut run_start = 0;
        for token in s.tokens.iter().filter(|t| t.len() > 1) {
            self.append(&mut out, &s.chars, run_start..token.start, false);
            self.append(&mut out, &s.chars, token.clone(), true);
            run_start = token.end;
        }
        self.append(&mut out, &s.chars, run_start..s.chars.len(), false);
        out
    }

    /// Tokenises `chars[range]` onto `out`, as one unit when `one_unit`.
    fn append(&self, out: &mut Tokenized, chars: &[char], range: Range<usize>, one_unit: bool) {
        if range.is_empty() {
            return;
        }
        let part = self.tokenize(&chars[range.clone()]);
        let base = out.ids.len();
        out.ids.extend(part.ids);
        let shifted = part.units.into_iter().map(|u| Unit {
            chars: u.chars.start + range.start..u.chars.end + range.start,
            pieces: u.pieces.start + base..u.pieces.end + base,
        });
        if one_unit {
            out.units.push(Unit {
                chars: range,
                pieces: base..out.ids.len(),
            });
        } else {
            out.units.extend(shifted);
        }
    }

    /// BERT's lower-casing and accent stripping (only with `do_lower_case`).
    fn normalize(&self, chars: &[char]) -> String {
        if !self.do_lower_case {
            return chars.iter().collect();
        }
        let lower: String = chars.iter().flat_map(|c| c.to_lowercase()).collect();
        lower
            .nfd()
            .filter(|&c| get_general_category(c) != GeneralCategory::NonspacingMark)
            .collect()
    }

    /// Exact lookup of a single-character unit, then (only if absent) with full-width ASCII folded
    /// to half-width.
    fn lookup(&self, piece: &str) -> Option<i64> {
        if let Some(&id) = self.vocab.get(piece) {
            return Some(id);
        }
        if !self.fallbacks {
            return None;
        }
        let mut it = piece.chars();
        if let (Some(c), None) = (it.next(), it.next()) {
            if let Some((_, to)) = PUNCT_FALLBACK.iter().find(|(from, _)| *from == c) {
                return self.vocab.get(*to).copied();
            }
        }
        if piece.chars().any(is_fullwidth_ascii) {
            let folded: String = piece.chars().map(fold_fullwidth).collect();
            return self.vocab.get(&folded).copied();
        }
        None
    }

    /// Greedy longest-match WordPiece with exact lookups; `None` where BERT would emit one
    /// `[UNK]` for the word (no match, or more than [`MAX_CHARS_PER_WORD`] characters).
    fn wordpiece(&self, word: &str) -> Option<Vec<i64>> {
        let chars: Vec<char> = word.chars().collect();
        if chars.is_empty() || chars.len() > MAX_CHARS_PER_WORD {
            return None;
        }
        let mut out = Vec::new();
        let mut start = 0;
        let mut buf = String::new();
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                buf.clear();
                if start > 0 {
                    buf.push_str("##");
                }
                buf.extend(&chars[start..end]);
                if let Some(&id) = self.vocab.get(&buf) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            out.push(found?);
            start = end;
        }
        Some(out)
    }

    /// Counts units containing `[UNK]` over a dataset, for the load report.
    pub fn unk_stats(&self, sentences: &[Sentence]) -> UnkStats {
        let mut units = 0;
        let mut unk_units = 0;
        let mut chars = 0;
        let mut unknown: HashMap<String, usize> = HashMap::new();
        for s in sentences {
            let t = self.tokenize_sentence(s);
            chars += s.chars.len();
            units += t.units.len();
            for u in &t.units {
                if t.ids[u.pieces.clone()].contains(&self.unk_id) {
                    unk_units += 1;
                    *unknown
                        .entry(s.chars[u.chars.clone()].iter().collect())
                        .or_default() += 1;
                }
            }
        }
        let mut top: Vec<(String, usize)> = unknown.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(20);
        UnkStats {
            units,
            unk_units,
            chars,
            unk_rate: if units == 0 {
                0.0
            } else {
                unk_units as f64 / units as f64
            },
            top_unknown_chars: top,
        }
    }
}

/// BERT's whitespace: space, tab, newline, carriage return, or any Zs character.
pub fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
        || get_general_category(c) == GeneralCategory::SpaceSeparator
}

/// Characters BERT's text cleaning removes: NUL, U+FFFD and control/format characters other than
/// tab, newline and carriage return.
pub fn is_dropped_by_bert(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c == '\0'
        || c == '\u{FFFD}'
        || matches!(
            get_general_category(c),
            GeneralCategory::Control | GeneralCategory::Format
        )
}

/// BERT's "Chinese character": the CJK Unified Ideographs blocks (not kana or hangul).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// BERT's punctuation: all non-alphanumeric ASCII printables plus Unicode category P*.
pub fn is_punctuation(c: char) -> bool {
    let cp = c as u32;
    if (33..=47).contains(&cp)
        || (58..=64).contains(&cp)
        || (91..=96).contains(&cp)
        || (123..=126).contains(&cp)
    {
        return true;
    }
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        ConnectorPunctuation
            | DashPunctuation
            | OpenPunctuation
            | ClosePunctuation
            | InitialPunctuation
            | FinalPunctuation
            | OtherPunctuation
    )
}

fn is_word_char(c: char) -> bool {
    !(is_whitespace(c) || is_dropped_by_bert(c) || is_cjk(c) || is_punctuation(c))
}

fn is_fullwidth_ascii(c: char) -> bool {
    ('\u{FF01}'..='\u{FF5E}').contains(&c)
}

fn fold_fullwidth(c: char) -> char {
    if is_fullwidth_ascii(c) {
        char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Tokenizer {
        let vocab = "[PAD]\n[unused1]\n[UNK]\n[CLS]\n[SEP]\n中\n国\nis\n##s\ni\n##phone\n##6\n,\n.\na\nｂ\n##ｂ\n!\n";
        Tokenizer::from_vocab_str(Path::new("v"), vocab, true).unwrap()
    }

    fn toks(t: &Tokenizer, s: &str) -> Vec<(String, Vec<&'static str>)> {
        let chars: Vec<char> = s.chars().collect();
        let out = t.tokenize(&chars);
        out.units
            .iter()
            .map(|u| {
                (
                    chars[u.chars.clone()].iter().collect(),
                    out.ids[u.pieces.clone()]
                        .iter()
                        .map(|&i| &*t.token(i).unwrap().to_string().leak())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn units_cover_every_char() {
        let t = tiny();
        let got = toks(&t, "\u{0}中 iPhone6,\u{3000}x\u{0}国");
        let want: Vec<(String, Vec<&str>)> = vec![
            ("\u{0}".into(), vec!["[UNK]"]),
            ("中".into(), vec!["中"]),
            (" ".into(), vec!["[unused1]"]),
            ("iPhone6".into(), vec!["i", "##phone", "##6"]),
            (",".into(), vec![","]),
            ("\u{3000}".into(), vec!["[unused1]"]),
            // A deleted character inside a word joins it, as BERT deletes it before splitting.
            ("x\u{0}".into(), vec!["[UNK]"]),
            ("国".into(), vec!["国"]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn fullwidth_exact_first_then_folded() {
        let t = tiny();
        // ｂ is in the vocab: used as is; ！ is not, its half-width form is.
        assert_eq!(
            toks(&t, "ｂｂ！"),
            vec![
                ("ｂｂ".into(), vec!["ｂ", "##ｂ"]),
                ("！".into(), vec!["!"])
            ]
        );
    }

    #[test]
    fn long_word_is_unk() {
        let t = tiny();
        let w = "a".repeat(101);
        assert_eq!(toks(&t, &w), vec![(w.clone(), vec!["[UNK]"])]);
    }
}
