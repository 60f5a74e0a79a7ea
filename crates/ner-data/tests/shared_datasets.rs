//! Every dataset in `shared/datasets` reads without error, windows at max_seq_length 128 without a
//! unit that does not fit, and the [UNK] rate stays low. Prints the rates for the load report.
//!
//! Needs `ALBERT_NER_SHARED` (path to shared/); unset, it prints a notice and passes (fails where
//! `ALBERT_NER_REQUIRE_SHARED` is set, as in CI).

mod common;

use std::path::Path;

use ner_data::{features, read_file, read_file_with, DataFormat, LabelSet, ReadOptions, Tokenizer};

#[test]
fn shared_datasets_read_window_and_have_few_unknowns() {
    let Some(shared) = common::shared_dir("the shared dataset checks") else {
        return;
    };
    let root = shared.join("datasets");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../albert_config/vocab.txt");
    let tok = Tokenizer::from_vocab_file(&vocab, true).unwrap();
    for (dir, train, evals) in [
        ("msra", "train.txt", &["dev.txt", "test.txt"][..]),
        ("resume", "train.txt", &["dev.txt", "test.txt"][..]),
        (
            "cluener",
            "train.json",
            &["dev.json", "dev.txt", "train.txt"][..],
        ),
    ] {
        let path = root.join(dir).join(train);
        assert!(path.is_file(), "{} missing", path.display());
        let opts = ReadOptions {
            drop_overlapping: true,
            ..Default::default()
        };
        let (sentences, report) = read_file_with(&path, DataFormat::Auto, opts).unwrap();
        eprintln!("{report}");
        let labels = LabelSet::from_sentences(&sentences);
        let stats = tok.unk_stats(&sentences);
        eprintln!(
            "{dir}/{train}: [UNK] {}/{} units ({:.4}%), top {:?}",
            stats.unk_units,
            stats.units,
            100.0 * stats.unk_rate,
            &stats.top_unknown_chars[..stats.top_unknown_chars.len().min(10)]
        );
        assert!(
            stats.unk_rate < 0.001,
            "{dir}: [UNK] rate {}",
            stats.unk_rate
        );
        let f = features(&sentences, &tok, &labels, 128, 32).unwrap();
        let split = f.len() - sentences.len();
        eprintln!(
            "{dir}/{train}: {} features for {} sentences (+{split} windows)",
            f.len(),
            sentences.len()
        );
        for e in evals {
            let (s, r) = read_file(&root.join(dir).join(e), DataFormat::Auto).unwrap();
            labels.check(&s, &r).unwrap();
        }
    }
}

#[test]
fn cluener_json_reads_as_its_shared_bio_conversion() {
    let Some(shared) = common::shared_dir("the shared dataset checks") else {
        return;
    };
    let dir = shared.join("datasets/cluener");
    let opts = ReadOptions {
        drop_overlapping: true,
        ..Default::default()
    };
    for (json, txt) in [("train.json", "train.txt"), ("dev.json", "dev.txt")] {
        let (a, r) = read_file_with(&dir.join(json), DataFormat::Auto, opts).unwrap();
        let (b, _) = read_file(&dir.join(txt), DataFormat::Auto).unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.chars, &x.tags),
                (&y.chars, &y.tags),
                "{json}:{}",
                x.line
            );
        }
        eprintln!("{r}");
    }
}

#[test]
fn every_shared_dataset_file_reads() {
    let Some(shared) = common::shared_dir("the shared dataset checks") else {
        return;
    };
    let root = shared.join("datasets");
    let opts = ReadOptions {
        drop_overlapping: true,
        allow_unlabeled: true,
    };
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if !matches!(f.extension().and_then(|e| e.to_str()), Some("txt" | "json")) {
                continue;
            }
            let (_, r) = read_file_with(&f, DataFormat::Auto, opts).unwrap();
            eprintln!("{r}");
            n += 1;
        }
    }
    assert!(n >= 14, "only {n} files found");
}
