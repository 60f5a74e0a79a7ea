//! The enumerated hyperparameters. Each lists its accepted spellings (first = canonical, which is
//! also how `resolved_json()` writes it), so the parser and the error message share one table.

use serde::Serialize;

/// Which output layer tags the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Linear emissions + CRF (the replaced system's model).
    #[default]
    Crf,
    /// Linear emissions + per-token softmax; faster, usually a little less accurate.
    Softmax,
}

/// What turns characters into the states the head tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoder {
    /// ALBERT, pretrained or from scratch (the replaced system's model).
    #[default]
    Albert,
    /// Character embeddings (optionally pretrained vectors) and a bidirectional LSTM.
    Bilstm,
    /// ALBERT's hidden states through a bidirectional LSTM.
    AlbertBilstm,
}

/// Reduced-precision training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MixedPrecision {
    /// bf16 where the GPU supports it, else fp16 on GPU, else off.
    #[default]
    Auto,
    Bf16,
    Fp16,
    Off,
}

/// Training-data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// Detected from the file contents.
    #[default]
    Auto,
    /// One `char tag` pair per line, blank line between sentences (the replaced system's format).
    CharTag,
    /// CLUENER2020 JSON lines (`text` + `label` {type: {entity: [[start, end]]}}).
    Cluener,
    /// JSON lines with `text` and a list of character spans.
    SpanJsonl,
}

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// CUDA when a GPU is visible, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Whether training spreads over the job's devices and hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distributed {
    /// One worker per GPU (or `processes_per_host`) on every host, one process group.
    #[default]
    Auto,
    /// One process on `hosts[0]`; other hosts stay idle.
    Off,
}

/// A hyperparameter with a closed set of values.
pub(crate) trait Choice: Sized + Copy + 'static {
    /// Accepted spellings per variant, lower case, canonical first; same order as `VARIANTS`.
    const SPELLINGS: &'static [&'static [&'static str]];
    const VARIANTS: &'static [Self];
}

impl Choice for Head {
    const SPELLINGS: &'static [&'static [&'static str]] = &[&["crf"], &["softmax"]];
    const VARIANTS: &'static [Self] = &[Head::Crf, Head::Softmax];
}

impl Choice for Encoder {
    const SPELLINGS: &'static [&'static [&'static str]] = &[
        &["albert"],
        &["bilstm", "bi_lstm", "bilstm_crf"],
        &["albert_bilstm", "albert_bi_lstm", "albert_bilstm_crf"],
    ];
    const VARIANTS: &'static [Self] = &[Encoder::Albert, Encoder::Bilstm, Encoder::AlbertBilstm];
}

impl Choice for MixedPrecision {
    const SPELLINGS: &'static [&'static [&'static str]] = &[
        &["auto"],
        &["bf16", "bfloat16"],
        &["fp16", "float16"],
        &["off", "false", "no", "fp32", "float32"],
    ];
    const VARIANTS: &'static [Self] = &[
        MixedPrecision::Auto,
        MixedPrecision::Bf16,
        MixedPrecision::Fp16,
        MixedPrecision::Off,
    ];
}

impl Choice for DataFormat {
    const SPELLINGS: &'static [&'static [&'static str]] =
        &[&["auto"], &["char_tag"], &["cluener"], &["span_jsonl"]];
    const VARIANTS: &'static [Self] = &[
        DataFormat::Auto,
        DataFormat::CharTag,
        DataFormat::Cluener,
        DataFormat::SpanJsonl,
    ];
}

impl Choice for Device {
    const SPELLINGS: &'static [&'static [&'static str]] = &[&["auto"], &["cpu"], &["cuda", "gpu"]];
    const VARIANTS: &'static [Self] = &[Device::Auto, Device::Cpu, Device::Cuda];
}

impl Choice for Distributed {
    const SPELLINGS: &'static [&'static [&'static str]] = &[
        &["auto", "on", "true", "yes"],
        &["off", "false", "no", "none"],
    ];
    const VARIANTS: &'static [Self] = &[Distributed::Auto, Distributed::Off];
}
