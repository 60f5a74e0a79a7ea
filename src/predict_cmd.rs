//! `predict`: tags raw text (one sentence per line) with a trained model directory. Long lines are
//! windowed, never truncated, and every input character gets a tag.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use ner_infer::{Batching, TrainedModel};
use ner_settings::{Device, InferencePrecision};
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
    /// Default: the model's own (its hyperparameters.json), else 128.
    #[arg(long)]
    pub max_seq_length: Option<usize>,
    /// Overlap between consecutive windows, in pieces. Default: the model's own, else 32.
    #[arg(long)]
    pub window_stride: Option<usize>,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Keep BIO-invalid transitions out of decoded paths. Default: as the model was trained (true).
    #[arg(long, action = clap::ArgAction::Set)]
    pub bio_constraints: Option<bool>,
    /// `cpu`, `cuda` (or `gpu`) or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: Device,
    /// `auto`, `fp32`, `int8` (CPU) or `bf16` (CPU with avx512_bf16/amx_bf16, or GPU): what the model
    /// computes in. `auto`: on a CPU the measured fastest within 0.5 F1 points of fp32.
    #[arg(long, default_value = "auto")]
    pub precision: InferencePrecision,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Bio,
    Jsonl,
}

/// Runs `predict` with parsed arguments, writing to `out`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    check_args(args)?;
    let device = crate::device::select(args.device)?;
    let model = load(args, device)?;
    let lines = read_lines(&args.input)?;
    if matches!(args.format, OutputFormat::Bio) {
        refuse_blank_lines(&lines, &args.input)?;
    }
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let scores = matches!(args.format, OutputFormat::Jsonl);
    let tagged = model
        .tag(&texts, Batching::Windows(args.batch_size), scores, || true)?
        .context("tagging was stopped")?;
    for t in &tagged {
        match args.format {
            OutputFormat::Bio => {
                for (c, tag) in t.chars.iter().zip(&t.tags) {
                    writeln!(out, "{c} {tag}")?;
                }
                writeln!(out)?;
            }
            OutputFormat::Jsonl => {
                let text: String = t.chars.iter().collect();
                writeln!(out, "{}", json!({"text": text, "entities": t.entities}))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The model directory, after checking that it fits in memory, with the command line's window settings.
fn load(args: &Args, device: tch::Device) -> Result<TrainedModel> {
    let mut model = crate::tagging_model::load(&args.model_dir, device, args.precision)?;
    if args.max_seq_length.is_some() || args.window_stride.is_some() {
        let (max_seq_length, window_stride) = (
            args.max_seq_length
                .unwrap_or(model.settings().max_seq_length),
            args.window_stride.unwrap_or(model.settings().window_stride),
        );
        model = model
            .with_windows(
                max_seq_length,
                window_stride,
                std::path::Path::new("the command line"),
            )
            .with_context(|| format!("loading the model from {}", args.model_dir.display()))?;
    }
    if let Some(b) = args.bio_constraints {
        model = model.with_bio_constraints(b);
    }
    tracing::info!("model: {}", model.describe());
    Ok(model)
}

/// The settings `train` would refuse as hyperparameters are refused here too.
fn check_args(args: &Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size 0: give at least 1 sentence window per batch");
    }
    if let Some(max) = args.max_seq_length.filter(|&m| m < 3) {
        bail!("--max-seq-length {max}: a window needs [CLS], [SEP] and at least one piece");
    }
    if let (Some(max), Some(stride)) = (args.max_seq_length, args.window_stride) {
        let content = max - 2;
        if stride >= content {
            bail!(
                "--window-stride {stride} must be smaller than a window's content (--max-seq-length - 2 = {content})"
            );
        }
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
