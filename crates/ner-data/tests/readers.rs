//! Reader behaviour on the hand-written fixtures in tests/data.

use std::path::{Path, PathBuf};

use ner_data::{
    read_file, read_file_with, DataFormat, LabelSet, ReadOptions, TagScheme, WarningKind,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn err(name: &str) -> String {
    read_file(&data(name), DataFormat::Auto)
        .unwrap_err()
        .to_string()
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

#[test]
fn bio_with_space_chars_and_tabs() {
    let (s, r) = read_file(&data("bio.txt"), DataFormat::Auto).unwrap();
    assert_eq!(r.format, DataFormat::CharTag);
    assert_eq!(r.scheme, TagScheme::Bio);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].chars, chars("张三在北京"));
    assert_eq!(s[0].tags, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]);
    assert_eq!(s[0].line, 1);
    // "  O" is a space character tagged O; "\u{3000} O" a full-width space.
    assert_eq!(s[1].chars, chars(" \u{3000}李四"));
    assert_eq!(s[1].tags, ["O", "O", "B-PER", "I-PER"]);
    assert_eq!(s[1].line, 7);
    assert!(r.warnings.is_empty(), "{r}");
    assert_eq!(r.entities, [("LOC".to_string(), 1), ("PER".to_string(), 2)]);
}

#[test]
fn bioes_and_bmes_convert_to_bio() {
    let (s, r) = read_file(&data("bioes.txt"), DataFormat::CharTag).unwrap();
    assert_eq!(r.scheme, TagScheme::Bioes);
    assert_eq!(s[0].tags, ["B-PER", "I-PER", "O", "B-LOC"]);
    assert_eq!(r.count(WarningKind::SchemeConverted), 2);

    let (s, r) = read_file(&data("bmes.txt"), DataFormat::Auto).unwrap();
    assert_eq!(r.scheme, TagScheme::Bmes);
    assert_eq!(s[0].tags, ["B-NAME", "I-NAME", "I-NAME", "O", "B-RACE"]);
    assert_eq!(s[1].tags, ["B-ORG", "I-ORG"]);
    assert_eq!(s[1].line, 9);
    assert_eq!(r.count(WarningKind::MultipleBlankLines), 1);
    assert_eq!(r.count(WarningKind::TrailingBlankLines), 1);
}

#[test]
fn orphan_inside_is_repaired_and_counted() {
    let (s, r) = read_file(&data("orphan.txt"), DataFormat::Auto).unwrap();
    assert_eq!(s[0].tags, ["O", "B-LOC", "I-LOC", "B-PER"]);
    let w = r
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::OrphanInside)
        .unwrap();
    assert_eq!((w.count, w.first_line), (2, 2));
    assert_eq!(w.example, "北 I-LOC");
}

#[test]
fn bom_and_crlf_are_repaired() {
    let (s, r) = read_file(&data("bom.txt"), DataFormat::Auto).unwrap();
    assert_eq!(s[0].chars, chars("张三"));
    assert_eq!(r.count(WarningKind::Bom), 1);
    let (s, r) = read_file(&data("crlf.txt"), DataFormat::Auto).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].tags, ["B-PER", "I-PER"]);
    assert_eq!(r.count(WarningKind::Crlf), 4);
}

#[test]
fn cluener() {
    let (s, r) = read_file(&data("cluener.json"), DataFormat::Auto).unwrap();
    assert_eq!(r.format, DataFormat::Cluener);
    assert_eq!(
        s[0].tags,
        [
            "B-company",
            "I-company",
            "I-company",
            "I-company",
            "O",
            "B-name",
            "I-name",
            "I-name"
        ]
    );
    assert_eq!(s[1].tags[4..], ["B-game", "I-game", "I-game", "I-game"]);
    assert_eq!(s[1].line, 2);
    let e = err("cluener_mismatch.json");
    assert!(
        e.contains(":1:") && e.contains("浙商银") && e.contains("浙商银行"),
        "{e}"
    );
    // Unlabeled: refused for training, read as O for prediction.
    let e = err("cluener_unlabeled.json");
    assert!(e.contains(":1:") && e.contains("no labels"), "{e}");
    let (s, r) = read_file_with(
        &data("cluener_unlabeled.json"),
        DataFormat::Auto,
        ReadOptions {
            allow_unlabeled: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s[0].tags, ["O"; 5]);
    assert_eq!(r.count(WarningKind::Unlabeled), 1);
}

#[test]
fn span_jsonl_counts_scalar_values() {
    let (s, r) = read_file(&data("spans.jsonl"), DataFormat::Auto).unwrap();
    assert_eq!(r.format, DataFormat::SpanJsonl);
    assert_eq!(s.len(), 2);
    // U+20000 is one character, not two UTF-16 units.
    assert_eq!(s[0].chars[1..3], chars("张三"));
    assert_eq!(s[0].tags[1..3], ["B-PER", "I-PER"]);
    assert_eq!(s[0].tags[13..], ["B-LOC", "I-LOC"]);
    assert_eq!(s[1].line, 3);
    let e = err("spans_overlap.jsonl");
    assert!(e.contains(":1:") && e.contains("overlaps"), "{e}");
    let e = err("spans_range.jsonl");
    assert!(
        e.contains(":2:") && e.contains("out of range") && e.contains("\"end\":3"),
        "{e}"
    );
}

#[test]
fn errors_name_file_line_and_value() {
    let e = err("invalid_utf8.txt");
    assert!(
        e.contains("invalid_utf8.txt:2:") && e.contains("offset 10") && e.contains("0xff"),
        "{e}"
    );
    let e = err("unknown_tag.txt");
    assert!(
        e.contains("unknown_tag.txt:2:") && e.contains("X-PER"),
        "{e}"
    );
    let e = err("empty_type.txt");
    assert!(e.contains(":2:") && e.contains("\"B-\""), "{e}");
    let e = err("malformed_no_tag.txt");
    assert!(e.contains(":2:") && e.contains("no tag"), "{e}");
    let e = err("malformed_extra.txt");
    assert!(
        e.contains(":2:") && e.contains("extra columns") && e.contains("三 O O"),
        "{e}"
    );
    let e = err("empty.txt");
    assert!(e.contains("empty.txt") && e.contains("empty file"), "{e}");
    let e = err("missing.txt");
    assert!(e.contains("missing.txt") && e.contains("not found"), "{e}");
}

#[test]
fn format_names_parse() {
    for (s, f) in [
        ("auto", DataFormat::Auto),
        ("char_tag", DataFormat::CharTag),
        ("CHAR_TAG", DataFormat::CharTag),
        ("cluener", DataFormat::Cluener),
        ("span_jsonl", DataFormat::SpanJsonl),
    ] {
        assert_eq!(s.parse::<DataFormat>().unwrap(), f);
    }
    assert!("xml".parse::<DataFormat>().is_err());
    // One table of spellings for every path (ner-settings): the reader's own extra spellings,
    // which the `data_format` hyperparameter never accepted, are gone.
    for gone in ["bio", "conll", "jsonl"] {
        assert!(gone.parse::<DataFormat>().is_err(), "{gone}");
    }
}

#[test]
fn unknown_label_in_eval_data_names_file_line_label() {
    let (train, _) = read_file(&data("bio.txt"), DataFormat::Auto).unwrap();
    let labels = LabelSet::from_sentences(&train);
    let (dev, r) = read_file(&data("bmes.txt"), DataFormat::Auto).unwrap();
    let e = labels.check(&dev, &r).unwrap_err().to_string();
    assert!(e.contains("bmes.txt:1:") && e.contains("B-NAME"), "{e}");
}

#[test]
fn committed_msra_sample_reads_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../local_test/test_dir/input/data");
    let (train, r) = read_file(&root.join("training/train.txt"), DataFormat::Auto).unwrap();
    assert_eq!(r.scheme, TagScheme::Bio);
    let labels = LabelSet::from_sentences(&train);
    assert_eq!(labels.types(), ["LOC", "ORG", "PER"]);
    let (dev, r) = read_file(&root.join("validation/dev.txt"), DataFormat::Auto).unwrap();
    labels.check(&dev, &r).unwrap();
}

#[test]
fn overlapping_entities_refused_or_first_kept() {
    let e = err("spans_overlap.jsonl");
    assert!(e.contains("drop_overlapping"), "{e}");
    let opts = ReadOptions {
        drop_overlapping: true,
        ..Default::default()
    };
    let (s, r) = read_file_with(&data("spans_overlap.jsonl"), DataFormat::Auto, opts).unwrap();
    assert_eq!(s[0].tags, ["B-PER", "I-PER", "O", "O"]);
    assert_eq!(r.count(WarningKind::OverlapDropped), 1);
    // CLUENER: file order decides, not the alphabetical order of types.
    let (s, r) = read_file_with(&data("cluener_nested.json"), DataFormat::Auto, opts).unwrap();
    assert_eq!(s[0].tags, ["B-title", "I-title", "I-title", "I-title"]);
    assert_eq!(r.count(WarningKind::OverlapDropped), 1);
    let e = err("cluener_nested.json");
    assert!(e.contains(":1:") && e.contains("overlaps"), "{e}");
}

/// Reads `text` as a file named `name`.
fn read_named(
    name: &str,
    text: &str,
) -> Result<(Vec<ner_data::Sentence>, ner_data::ReadReport), String> {
    ner_data::read_bytes(
        Path::new(name),
        text.as_bytes(),
        DataFormat::Auto,
        ReadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn read_text(text: &str) -> Result<usize, String> {
    read_named("mem.txt", text).map(|(s, _)| s.len())
}

#[test]
fn a_tab_is_never_read_as_the_character() {
    let e = read_text("张 B-PER\n\t\tO\n").unwrap_err();
    assert!(
        e.contains("mem.txt:2:") && e.contains("starts with a tab"),
        "{e}"
    );
    // A space character still is one (real corpora tag spaces).
    assert_eq!(read_text("张 B-PER\n  O\n"), Ok(1));
}

#[test]
fn a_control_character_in_a_token_is_refused_naming_the_line_and_the_character() {
    for (text, code) in [
        ("张 B-PER\na\0b O\n", "U+0000"),
        ("张 B-PER\n三\u{1b} O\n", "U+001B"),
        ("张 B-PER\n\u{7f} O\n", "U+007F"),
    ] {
        let e = read_text(text).unwrap_err();
        assert!(
            e.contains("mem.txt:2:") && e.contains(code) && !e.contains('\0'),
            "{e:?}"
        );
    }
    // Other characters that are not letters are text: a full-width space, a BOM-free emoji, ZWJ.
    assert_eq!(read_text("\u{3000} O\n❤\u{fe0f} O\n\u{200d} O\n"), Ok(1));
}

#[test]
fn errors_quote_a_bounded_excerpt_of_a_huge_line() {
    let tail = "x".repeat(200_000);
    for text in [
        format!("张 B-PER\n三 O {tail}\n"),
        format!("张 X-{tail}\n"),
        // Not JSON: the line is quoted in the error.
        format!("{{\"text\": \"{tail}\"\n"),
    ] {
        let e = read_text(&text).unwrap_err();
        assert!(e.len() < 400, "{} bytes: {}", e.len(), &e[..400]);
        assert!(e.contains("more characters"), "{e}");
    }
}

/// Tokens as real corpora have them: one character, a Latin word, a number glued to a CJK
/// character, two U+FFFD (an emoji lost in an old conversion) and an emoji with U+FE0F.
const MIXED_TOKENS: &str = "我 O\n买 O\niPhone B-PRODUCT\n15 I-PRODUCT\n于 O\n2024年 O\n\u{FFFD}\u{FFFD} O\n\u{2764}\u{FE0F} O\n\n北 B-LOC\n京 I-LOC\n";

#[test]
fn multi_character_tokens_are_read_as_tokens() {
    let (s, r) = read_named("mixed.txt", MIXED_TOKENS).unwrap();
    assert_eq!(s.len(), 2);
    let text: String = s[0].chars.iter().collect();
    assert_eq!(text, "我买iPhone15于2024年\u{FFFD}\u{FFFD}\u{2764}\u{FE0F}");
    let tokens: Vec<String> = s[0]
        .token_ranges()
        .into_iter()
        .map(|r| s[0].chars[r].iter().collect())
        .collect();
    assert_eq!(
        tokens,
        [
            "我",
            "买",
            "iPhone",
            "15",
            "于",
            "2024年",
            "\u{FFFD}\u{FFFD}",
            "\u{2764}\u{FE0F}"
        ]
    );
    // The token's tag on its first character, the entity continued over the rest.
    assert_eq!(
        &s[0].tags[2..10],
        [
            "B-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT",
            "I-PRODUCT"
        ]
    );
    assert_eq!(s[0].tags.len(), s[0].chars.len());
    assert!(
        s[1].tokens.is_empty(),
        "one-character tokens keep today's form"
    );
    let seen = r.multi_char_tokens.as_ref().unwrap();
    assert_eq!(
        (seen.count, seen.first_line, seen.example.as_str()),
        (5, 3, "iPhone")
    );
    assert!(
        r.to_string().contains("5 tokens of several characters"),
        "{r}"
    );
    // Whitespace alone before the tag, or an extra column, is still an error naming the line.
    for (bad, says) in [
        ("我 O\n\t O\n", ":2:"),
        ("我 O\niPhone X O\n", "extra columns"),
    ] {
        let e = read_named("bad.txt", bad).unwrap_err();
        assert!(e.contains("bad.txt:2:") && e.contains(says), "{e}");
    }
}

#[test]
fn predictions_are_written_one_line_per_input_token() {
    let (s, _) = read_named("mixed.txt", MIXED_TOKENS).unwrap();
    let written: String = s
        .iter()
        .map(|s| ner_data::token_tag_lines(s, &s.tags))
        .collect();
    assert_eq!(written, MIXED_TOKENS.to_string() + "\n");
}
