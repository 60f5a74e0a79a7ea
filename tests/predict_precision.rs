//! `predict --precision`: int8 and bf16 tag as fp32 does on a trained micro model (all but a stated
//! fraction of characters), the log says which precision and why, and a bad spelling is refused listing
//! every spelling.

mod common;

use common::{check, Job};

/// The first `n` of the committed sample's test sentences, one per line.
fn sample_text(n: usize) -> String {
    common::sample_test_sentences()
        .into_iter()
        .take(n)
        .map(|sentence| sentence + "\n")
        .collect()
}

/// `predict`'s tags, one per character in input order, and its log (at `info`, where the start-up
/// line is).
fn tags(job: &Job, input: &str, precision: &str) -> (Vec<String>, String) {
    let o = common::run_predict_with_env(
        &job.base().join("model"),
        &[
            "--format",
            "bio",
            "--device",
            "cpu",
            "--precision",
            precision,
        ],
        input,
        &[("RUST_LOG", "info")],
    );
    check(&o, o.status.success(), "predict");
    let tags = common::stdout(&o)
        .lines()
        .filter_map(|line| line.rsplit_once(' ').map(|(_, tag)| tag.to_string()))
        .collect();
    (tags, common::stderr(&o))
}

/// int8 and bf16 agree with fp32 on at least 99 % of the characters of 100 sentences (6,006 characters;
/// 99.8 % and 99.98 % when written), and the log names each precision.
#[test]
fn int8_and_bf16_tag_as_fp32_does() {
    let job = common::trained_micro_tagger("4");
    let input = sample_text(100);
    let (fp32, log) = tags(&job, &input, "fp32");
    assert!(log.contains("precision fp32 requested"), "{log}");
    assert!(
        fp32.iter().any(|t| t != "O"),
        "the micro model tags some entities (else agreement would be trivial)"
    );
    let mut forms = vec!["int8"];
    if ner_infer::cpu_has_bf16() {
        forms.push("bf16");
    }
    for form in forms {
        let (other, log) = tags(&job, &input, form);
        assert!(
            log.contains(&format!("precision {form} requested")),
            "{log}"
        );
        assert_eq!(other.len(), fp32.len(), "{form}: one tag per character");
        let same = other.iter().zip(&fp32).filter(|(a, b)| a == b).count();
        let agreement = same as f64 / fp32.len() as f64;
        eprintln!(
            "{form}: {same} of {} tags as fp32's ({agreement:.4})",
            fp32.len()
        );
        assert!(
            agreement >= 0.99,
            "{form}: {agreement} of the tags agree with fp32's"
        );
    }
    let (_, log) = tags(&job, &input, "auto");
    assert!(log.contains("precision auto: int8: measured"), "{log}");
}

/// A bad `--precision` is refused before loading, listing every spelling; bf16 on a CPU without bf16
/// instructions is refused naming the flags (checked where the CPU lacks them).
#[test]
fn a_bad_precision_is_refused_listing_the_spellings() {
    let job = Job::new(0, 0, 0);
    let o = common::run_predict(&job.base().join("model"), &["--precision", "fp8"], "张三\n");
    check(&o, !o.status.success(), "refused");
    let err = common::stderr(&o);
    for spelling in [
        "auto", "fp32", "int8", "bf16", "float32", "qint8", "bfloat16",
    ] {
        assert!(err.contains(&format!("\"{spelling}\"")), "{err}");
    }
    assert!(
        err.contains("--precision") && !err.contains("panicked"),
        "{err}"
    );
}
