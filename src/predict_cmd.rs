//! `predict`: tags raw text (one sentence per line) with a trained model directory. Long lines are
//! windowed, never truncated, and every input character gets a tag. The input streams through in chunks
//! of lines (`input.rs`), each tagged and written before the next is read, so memory does not grow with
//! the input; long runs report progress on stderr (`progress.rs`).

mod input;
mod progress;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use ner_infer::{Batching, Tagged, TrainedModel};
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
    /// Lines read, tagged and written at a time (also at most 1 MB of text): memory is bounded by one
    /// chunk, not the input; larger chunks batch windows of similar length better.
    #[arg(long, default_value_t = 2000)]
    pub chunk_lines: usize,
    /// Seconds between progress lines (lines done, share of the file, rate, ETA) on stderr; 0: none.
    #[arg(long, default_value_t = 10.0)]
    pub progress_seconds: f64,
}

/// At most this much text per chunk, whatever `--chunk-lines` says.
const CHUNK_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Bio,
    Jsonl,
}

/// Runs `predict` with parsed arguments, writing to `out` chunk by chunk.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    check_args(args)?;
    fix_mmap_threshold();
    let device = crate::device::select(args.device)?;
    let model = load(args, device)?;
    let limits = input::ChunkLimits {
        lines: args.chunk_lines,
        bytes: CHUNK_BYTES,
    };
    let mut chunks = input::LineChunks::open(&args.input, limits)?;
    let interval =
        (args.progress_seconds > 0.0).then(|| Duration::from_secs_f64(args.progress_seconds));
    let mut progress = progress::Progress::new(interval);
    let mut lines_done = 0;
    while let Some(chunk) = chunks.next_chunk()? {
        if matches!(args.format, OutputFormat::Bio) {
            refuse_blank_lines(&chunk, chunks.name())?;
        }
        let texts: Vec<&str> = chunk.lines.iter().map(String::as_str).collect();
        let scores = matches!(args.format, OutputFormat::Jsonl);
        let tagged = model
            .tag(&texts, Batching::Windows(args.batch_size), scores, || true)?
            .context("tagging was stopped")?;
        write_tagged(&tagged, args.format, out)?;
        out.flush()?;
        lines_done += chunk.lines.len();
        progress.tick(lines_done, chunks.bytes_read(), chunks.total_bytes());
    }
    Ok(())
}

/// Large blocks (a batch's activations, ≥ 4 MiB) are mapped and unmapped by themselves, so that memory
/// stays flat over a long input. glibc otherwise raises its mmap threshold each time such a block is
/// freed and serves the next ones from the heap, whose holes grow with every batch of a new shape: with a
/// tiny ALBERT, 1.5 MB of text peaked 130 MB above 0.5 MB's (455 vs 322 MB), 17 MB with this, at the
/// same speed. The price grows with the model: ALBERT-base in int8 tags 600 MSRA sentences ~15% slower
/// (22.4–23.7 s against 19.2–19.5 s at glibc's 32 MiB ceiling, whose peak moved between 494 and 715 MB).
/// `MALLOC_MMAP_THRESHOLD_` in the environment still decides where it is set. `serve` leaves glibc's
/// policy alone: fixed there, it cost ALBERT-base 35–40% of its throughput.
fn fix_mmap_threshold() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt(3) only changes glibc's allocation policy for later allocations.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        }
    }
}

fn write_tagged(tagged: &[Tagged], format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    for t in tagged {
        match format {
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
    if args.chunk_lines == 0 {
        bail!("--chunk-lines 0: give at least 1 line per chunk");
    }
    if !(args.progress_seconds >= 0.0 && args.progress_seconds.is_finite()) {
        bail!(
            "--progress-seconds {}: give a number of seconds >= 0 (0: no progress lines)",
            args.progress_seconds
        );
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
fn refuse_blank_lines(chunk: &input::Chunk, name: &str) -> Result<()> {
    if let Some(i) = chunk.lines.iter().position(|l| l.trim().is_empty()) {
        bail!(
            "{name}:{}: the line is blank; `--format bio` cannot keep an empty sentence in its place \
             (use --format jsonl, which writes one line per input line, or remove blank lines)",
            chunk.first_line + i
        );
    }
    Ok(())
}
