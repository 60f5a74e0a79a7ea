//! Properties of windowing with the real vocabulary: keep ranges tile each sentence, every char
//! gets a tag, and merging per-window gold reproduces the sentence's gold.

use std::path::Path;

use ner_data::{
    features, merge_windows, units_to_char_tags, DataError, LabelSet, Sentence, Tokenizer,
};
use proptest::prelude::*;

fn tokenizer() -> &'static Tokenizer {
    static TOK: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
    TOK.get_or_init(|| {
        let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
        Tokenizer::from_vocab_file(&vocab, true).unwrap()
    })
}

/// Characters mixing CJK, Latin runs, digits, punctuation, spaces and unknown symbols.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select("中国北京人民大学的在是".chars().collect::<Vec<_>>()),
        3 => prop::sample::select("abcdefghijklmnopqrstuvwxyzABC0123456789".chars().collect::<Vec<_>>()),
        1 => prop::sample::select(",.，。!-（）\u{3000} \t☃\u{200b}é".chars().collect::<Vec<_>>()),
    ]
}

/// Gold tags that respect unit boundaries (an entity never starts inside a unit), built by
/// spreading random unit tags the way predictions are spread.
fn sentence_with_gold(tok: &Tokenizer, chars: Vec<char>, seed: &[u8]) -> Sentence {
    let units = tok.tokenize(&chars).units;
    let tags = ["O", "B-PER", "I-PER", "B-LOC"];
    let unit_tags: Vec<&str> = (0..units.len())
        .map(|i| tags[seed[i % seed.len()] as usize % 4])
        .collect();
    let mut t: Vec<String> = units_to_char_tags(&unit_tags, &units);
    // Make it valid BIO (I after O becomes B) so it reads like a real file.
    for i in 0..t.len() {
        if t[i].starts_with("I-") && (i == 0 || t[i - 1] == "O" || t[i - 1][2..] != t[i][2..]) {
            t[i] = t[i].replacen("I-", "B-", 1);
        }
    }
    Sentence {
        chars,
        tags: t,
        line: 1,
        tokens: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn windows_tile_and_round_trip(
        sents in prop::collection::vec((prop::collection::vec(any_char(), 1..120), prop::collection::vec(any::<u8>(), 1..8)), 1..4),
        max_seq_length in 3usize..40,
        stride in 0usize..30,
    ) {
        let tok = tokenizer();
        let labels = LabelSet::from_types(["LOC", "PER"]);
        let sentences: Vec<Sentence> = sents.into_iter().map(|(c, s)| sentence_with_gold(tok, c, &s)).collect();
        let feats = match features(&sentences, tok, &labels, max_seq_length, stride) {
            Ok(f) => f,
            Err(DataError::UnitTooLong { pieces, max, .. }) => {
                prop_assert!(pieces > max);
                return Ok(());
            }
            Err(e) => panic!("{e}"),
        };
        for f in &feats {
            prop_assert!(f.input_ids.len() <= max_seq_length);
            prop_assert_eq!(f.input_ids[0], tok.cls_id());
            prop_assert_eq!(*f.input_ids.last().unwrap(), tok.sep_id());
            prop_assert!(f.keep.end <= f.tag_positions.len());
        }
        for (si, s) in sentences.iter().enumerate() {
            let t = tok.tokenize(&s.chars);
            let mut ws: Vec<_> = feats.iter().filter(|f| f.sentence == si).collect();
            ws.sort_by_key(|f| f.unit_offset);
            let mut next = 0;
            for f in &ws {
                if !f.keep.is_empty() {
                    prop_assert_eq!(f.unit_offset + f.keep.start, next);
                    next = f.unit_offset + f.keep.end;
                }
            }
            prop_assert_eq!(next, t.units.len());
        }
        // "Predict" gold per window; merge; spread to chars; compare with gold.
        let preds: Vec<Vec<i64>> = feats.iter().map(|f| f.tags.clone()).collect();
        let merged = merge_windows(&feats, &preds, sentences.len());
        for (s, unit_ids) in sentences.iter().zip(&merged) {
            let t = tok.tokenize(&s.chars);
            let names: Vec<&str> = unit_ids.iter().map(|&i| labels.name(i)).collect();
            let chars = units_to_char_tags(&names, &t.units);
            prop_assert_eq!(chars.len(), s.chars.len());
            prop_assert_eq!(&chars, &s.tags);
        }
    }
}

#[test]
fn long_sentence_is_split_not_truncated() {
    let tok = tokenizer();
    let labels = LabelSet::from_types(["PER"]);
    let chars: Vec<char> = "中国人民".repeat(100).chars().collect();
    let s = Sentence {
        tags: vec!["O".into(); chars.len()],
        chars,
        line: 7,
        tokens: Vec::new(),
    };
    let f = features(std::slice::from_ref(&s), tok, &labels, 128, 32).unwrap();
    assert!(f.len() >= 4);
    assert!(f.iter().all(|f| f.input_ids.len() <= 128));
    assert_eq!(f[0].keep.start, 0);
    assert_eq!(f.iter().map(|f| f.keep.len()).sum::<usize>(), 400);
}

#[test]
fn unit_longer_than_window_is_an_error_naming_it() {
    let tok = tokenizer();
    let labels = LabelSet::from_types(["PER"]);
    let chars: Vec<char> = "中 abcdefghijklmnopqrstuvwxyzabcdefghij".chars().collect();
    let s = Sentence {
        tags: vec!["O".into(); chars.len()],
        chars,
        line: 3,
        tokens: Vec::new(),
    };
    let e = features(&[s], tok, &labels, 5, 0).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("abcdefghij"), "{e}");
}
