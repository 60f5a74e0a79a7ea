//! `predict`: tags raw text (one sentence per line) with a trained model directory. Long lines are
//! windowed, never truncated, and every input character gets a tag.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use albert_model::{load_model, AlbertConfig};
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use ner_data::{LabelSet, Sentence, Tokenizer};
use ner_train::{predict, Precision, PredictSettings, Prepared};
use serde_json::json;

/// Tag Chinese text with a model trained by `train`.
#[derive(Parser, Debug)]
#[command(name = "predict", version)]
pub struct Args {
    /// A model directory written by `train` (model.safetensors, config.json, vocab.txt).
    #[arg(long)]
    pub model_dir: PathBuf,
    /// Raw text, one sentence per line; `-` reads stdin.
    #[arg(long, default_value = "-")]
    pub input: String,
    /// `bio`: `char TAG` lines, blank line between sentences (the datasets' form, scorable against gold).
    /// `jsonl`: one object per line with the entities' text, type and character offsets.
    #[arg(long, value_enum, default_value_t = OutputFormat::Bio)]
    pub format: OutputFormat,
    /// Pieces per window including [CLS] and [SEP]; longer lines are split into overlapping windows.
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    /// Overlap between consecutive windows, in pieces.
    #[arg(long, default_value_t = 32)]
    pub window_stride: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Keep BIO-invalid transitions out of decoded paths.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub bio_constraints: bool,
    /// `cpu`, `cuda` or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Bio,
    Jsonl,
}

/// Runs `predict` with parsed arguments, writing to `out`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    check_args(args)?;
    let device = crate::device::select(args.device.parse()?)?;
    let config_path = args.model_dir.join(albert_model::CONFIG_FILE);
    let config = AlbertConfig::from_json_file(&config_path)
        .with_context(|| format!("loading the model from {}", args.model_dir.display()))?;
    crate::memory_check::check_fits_in_memory(&config, crate::memory_check::Use::Inference)
        .with_context(|| format!("{}", config_path.display()))?;
    let (_vs, tagger, spec, vocab) = load_model(&args.model_dir, device)
        .with_context(|| format!("loading the model from {}", args.model_dir.display()))?;
    let labels = LabelSet::from_labels(&spec.labels, &args.model_dir.join("config.json"))?;
    let do_lower_case = trained_setting(&args.model_dir, "do_lower_case")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let tokenizer = Tokenizer::from_vocab_file(&vocab, do_lower_case)?;
    if args.max_seq_length as i64 > spec.albert.max_position_embeddings {
        bail!(
            "--max-seq-length {} exceeds the model's max_position_embeddings {}",
            args.max_seq_length,
            spec.albert.max_position_embeddings
        );
    }
    let lines = read_lines(&args.input)?;
    if matches!(args.format, OutputFormat::Bio) {
        refuse_blank_lines(&lines, &args.input)?;
    }
    let sentences: Vec<Sentence> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let chars: Vec<char> = l.chars().collect();
            Sentence {
                tags: vec!["O".to_string(); chars.len()],
                chars,
                line: i + 1,
                tokens: Vec::new(),
            }
        })
        .collect();
    // Empty lines have nothing to tag but keep their place in the output.
    let nonempty: Vec<Sentence> = sentences
        .iter()
        .filter(|s| !s.chars.is_empty())
        .cloned()
        .collect();
    let prepared = Prepared::new(
        &nonempty,
        &tokenizer,
        &labels,
        args.max_seq_length,
        args.window_stride,
    )?;
    let settings = PredictSettings {
        device,
        precision: Precision::Fp32,
        batch_size: args.batch_size,
        bio_constraints: args.bio_constraints,
        with_loss: false,
    };
    let mut tagged = predict(&tagger, &labels, &prepared, settings)
        .char_tags
        .into_iter();
    for s in &sentences {
        let tags = if s.chars.is_empty() {
            Vec::new()
        } else {
            tagged.next().expect("one prediction per sentence")
        };
        match args.format {
            OutputFormat::Bio => {
                for (c, t) in s.chars.iter().zip(&tags) {
                    writeln!(out, "{c} {t}")?;
                }
                writeln!(out)?;
            }
            OutputFormat::Jsonl => {
                let entities: Vec<_> = ner_data::metrics::chunks(&tags)
                    .into_iter()
                    .map(|e| {
                        let text: String = s.chars[e.start..e.end].iter().collect();
                        json!({"text": text, "type": e.kind, "start": e.start, "end": e.end})
                    })
                    .collect();
                let text: String = s.chars.iter().collect();
                writeln!(out, "{}", json!({"text": text, "entities": entities}))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The settings `train` would refuse as hyperparameters are refused here too.
fn check_args(args: &Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size 0: give at least 1 sentence window per batch");
    }
    if args.max_seq_length < 3 {
        bail!(
            "--max-seq-length {}: a window needs [CLS], [SEP] and at least one piece",
            args.max_seq_length
        );
    }
    let content = args.max_seq_length - 2;
    if args.window_stride >= content {
        bail!(
            "--window-stride {} must be smaller than a window's content (--max-seq-length - 2 = {content})",
            args.window_stride
        );
    }
    Ok(())
}

/// `char TAG` output separates sentences by blank lines, so an empty sentence has no block of its
/// own and every later sentence would pair with the wrong input line.
fn refuse_blank_lines(lines: &[String], input: &str) -> Result<()> {
    if let Some(i) = lines.iter().position(|l| l.trim().is_empty()) {
        let name = if input == "-" { "<stdin>" } else { input };
        bail!(
            "{name}:{}: the line is blank; `--format bio` cannot keep an empty sentence in its place \
             (use --format jsonl, which writes one line per input line, or remove blank lines)",
            i + 1
        );
    }
    Ok(())
}

/// Lines of UTF-8 text; a BOM and CR line endings are removed, invalid UTF-8 names the line.
fn read_lines(input: &str) -> Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(input).with_context(|| format!("opening {input}"))?,
        ))
    };
    let name = if input == "-" { "<stdin>" } else { input };
    let mut lines = Vec::new();
    for (i, raw) in reader.split(b'\n').enumerate() {
        let raw = raw.with_context(|| format!("reading {name}"))?;
        let mut text = String::from_utf8(raw).map_err(|e| {
            anyhow::anyhow!(
                "{name}:{}: invalid UTF-8 at byte {} of the line",
                i + 1,
                e.utf8_error().valid_up_to()
            )
        })?;
        if i == 0 {
            if let Some(rest) = text.strip_prefix('\u{feff}') {
                text = rest.to_string();
            }
        }
        if text.ends_with('\r') {
            text.pop();
        }
        lines.push(text);
    }
    Ok(lines)
}

/// A setting the model was trained with (`hyperparameters.json`, written by `train` next to the model).
fn trained_setting(model_dir: &std::path::Path, key: &str) -> Option<serde_json::Value> {
    let text = std::fs::read(model_dir.join("hyperparameters.json")).ok()?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text).ok()?;
    map.get(key).cloned()
}
