//! Reading the job's channels into sentences, with the label set and a validation split.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use ner_data::{read_file_with, LabelSet, ReadOptions, Sentence, Tokenizer};
use ner_settings::DataFormat;
use sagemaker_contract::{DataChannels, Hyperparameters};
use tracing::{info, warn};

/// Sentences per split, and the label set they are tagged with.
pub struct JobData {
    pub labels: LabelSet,
    pub train: Vec<Sentence>,
    pub validation: Option<Vec<Sentence>>,
    pub test: Option<Vec<Sentence>>,
}

/// Reads and checks every split. Labels come from `labels_file` or the training data; evaluation
/// data with a label the model cannot produce is an error naming file, line and label. `None` when
/// `stop` (SIGTERM) was raised while reading.
pub fn load(
    hp: &Hyperparameters,
    channels: &DataChannels,
    tokenizer: &Tokenizer,
    stop: &AtomicBool,
) -> Result<Option<JobData>> {
    let format = hp.data_format;
    let Some(train_files) = read_split("training", &channels.train, format, stop)? else {
        return Ok(None);
    };
    let labels = match &hp.labels_file {
        Some(p) => {
            let p = super::model_setup::resolve_relative(p);
            LabelSet::from_file(&p).with_context(|| format!("labels_file {}", p.display()))?
        }
        None => LabelSet::from_sentences(&concat(&train_files)),
    };
    let validation_files = match (&channels.validation, hp.do_eval) {
        (Some(files), true) => match read_split("validation", files, format, stop)? {
            Some(read) => Some(read),
            None => return Ok(None),
        },
        _ => None,
    };
    let test_files = match (&channels.test, hp.do_predict) {
        (Some(files), true) => match read_split("test", files, format, stop)? {
            Some(read) => Some(read),
            None => return Ok(None),
        },
        _ => None,
    };
    for (_, (sentences, report)) in train_files
        .iter()
        .chain(validation_files.iter().flatten())
        .chain(test_files.iter().flatten())
    {
        labels.check(sentences, report)?;
    }
    let mut train = concat(&train_files);
    let mut validation = validation_files.as_ref().map(|f| concat(f));
    if hp.do_eval && validation.is_none() && hp.validation_split > 0.0 && train.len() >= 2 {
        let n =
            ((train.len() as f64 * hp.validation_split).round() as usize).clamp(1, train.len() - 1);
        let (rest, held_out) = split_off(train, n, hp.train.seed);
        info!(
            "no validation data: holding out {n} training sentences (validation_split={}, seed={})",
            hp.validation_split, hp.train.seed
        );
        train = rest;
        validation = Some(held_out);
    }
    let test = test_files.as_ref().map(|f| concat(f));
    for (name, split) in [
        ("train", Some(&train)),
        ("validation", validation.as_ref()),
        ("test", test.as_ref()),
    ] {
        if let Some(sentences) = split {
            log_split(name, sentences, tokenizer);
        }
    }
    info!("labels ({}): {}", labels.len(), labels.labels().join(" "));
    Ok(Some(JobData {
        labels,
        train,
        validation,
        test,
    }))
}

/// One line per split: its size and how much of it the vocabulary does not know.
fn log_split(name: &str, sentences: &[Sentence], tokenizer: &Tokenizer) {
    let unk = tokenizer.unk_stats(sentences);
    let top: Vec<String> = unk
        .top_unknown_chars
        .iter()
        .take(5)
        .map(|(c, n)| format!("{c:?}×{n}"))
        .collect();
    info!(
        "data: split={name} sentences={} chars={} unk_rate={:.4}% ({} of {} units) most frequent unknown: {}",
        sentences.len(),
        unk.chars,
        100.0 * unk.unk_rate,
        unk.unk_units,
        unk.units,
        if top.is_empty() { "none".to_string() } else { top.join(" ") }
    );
}

type ReadFile = (PathBuf, (Vec<Sentence>, ner_data::ReadReport));

/// The files of one split, or `None` when `stop` is raised between two files.
fn read_split(
    split: &str,
    files: &[PathBuf],
    format: DataFormat,
    stop: &AtomicBool,
) -> Result<Option<Vec<ReadFile>>> {
    let mut read_files = Vec::with_capacity(files.len());
    for f in files {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        read_files.push(read_one(split, f, format)?);
    }
    Ok(Some(read_files))
}

fn read_one(split: &str, f: &Path, format: DataFormat) -> Result<ReadFile> {
    // CLUENER nests a few entities (a company inside a book title); BIO cannot, so the inner one
    // is dropped and counted in the report.
    let options = ReadOptions {
        drop_overlapping: true,
        ..Default::default()
    };
    let read =
        read_file_with(f, format, options).with_context(|| format!("reading the {split} data"))?;
    if read.1.warnings.is_empty() {
        info!("read {}", read.1);
    } else {
        warn!("read {}", read.1);
    }
    Ok((f.to_path_buf(), read))
}

fn concat(files: &[ReadFile]) -> Vec<Sentence> {
    files
        .iter()
        .flat_map(|(_, (s, _))| s.iter().cloned())
        .collect()
}

/// A seeded, reproducible hold-out of `n` sentences.
fn split_off(sentences: Vec<Sentence>, n: usize, seed: u64) -> (Vec<Sentence>, Vec<Sentence>) {
    let mut keyed: Vec<(u64, Sentence)> = sentences
        .into_iter()
        .enumerate()
        .map(|(i, s)| (splitmix(seed ^ (i as u64).wrapping_mul(0x9E37_79B9)), s))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    let held: Vec<Sentence> = keyed.drain(..n).map(|(_, s)| s).collect();
    let mut rest: Vec<Sentence> = keyed.into_iter().map(|(_, s)| s).collect();
    rest.sort_by_key(|s| s.line);
    (rest, held)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
