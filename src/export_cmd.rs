//! `export`: writes a trained model's emissions network as TorchScript or ONNX, with its manifest
//! (`emissions.pt.json`, `emissions.onnx.json`) that says how to feed it and decode its output as
//! `predict` does, and the vocabulary.
//! ONNX goes through torch's Python exporter (libtorch's C++ API has none): the binary carries the
//! converter (`export_onnx.py`) and runs it with `ALBERT_NER_PYTHON` (default `python3`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ner_infer::{manifest_file, network_file, ModelDir, TrainedModel};
use ner_settings::ExportFormat;

/// The ONNX opset the export writes: 17 has LayerNormalization as one operator (and SDPA's ops, ≥ 14).
pub const ONNX_OPSET: u32 = 17;
/// The interpreter that runs the ONNX converter (needs torch and onnx).
pub const PYTHON_ENV: &str = "ALBERT_NER_PYTHON";
const CONVERTER: &str = include_str!("export_onnx.py");

/// Export a model trained by `train` for other runtimes.
#[derive(Parser, Debug)]
#[command(name = "export", version)]
pub struct Args {
    /// A model directory written by `train` (model.safetensors, config.json, vocab.txt).
    #[arg(long)]
    pub model_dir: PathBuf,
    /// `torchscript` (emissions.pt) or `onnx` (emissions.onnx, opset 17).
    #[arg(long)]
    pub format: ExportFormat,
    /// Where to write the network, its manifest and vocab.txt. Default: the model directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `export` with parsed arguments; returns the network's path.
pub fn run(args: &Args) -> Result<PathBuf> {
    let out = args.out.as_deref().unwrap_or(&args.model_dir);
    // fp32: the exported network is the trained one (int8 and bf16 are conversions at load).
    let mut model = crate::tagging_model::load(
        &args.model_dir,
        tch::Device::Cpu,
        ner_infer::InferencePrecision::Fp32,
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let network = out.join(network_file(args.format));
    let opset = match args.format {
        ExportFormat::TorchScript => {
            model.write_torchscript(&network)?;
            None
        }
        ExportFormat::Onnx => {
            write_onnx(&mut model, &network)?;
            Some(ONNX_OPSET)
        }
    };
    copy_vocab(&ModelDir::new(&args.model_dir), out)?;
    let manifest = serde_json::to_string_pretty(&model.export_manifest(args.format, opset))?;
    let path = out.join(manifest_file(args.format));
    albert_model::write_bytes_atomically(&path, manifest.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(network)
}

/// Traces the network beside `onnx` and converts the trace with the carried Python converter.
fn write_onnx(model: &mut TrainedModel, onnx: &Path) -> Result<()> {
    let traced = onnx.with_extension("traced.pt");
    model.write_torchscript(&traced)?;
    let converted = convert_to_onnx(model, &traced, onnx);
    let _ = std::fs::remove_file(&traced);
    converted
}

fn convert_to_onnx(model: &TrainedModel, traced: &Path, onnx: &Path) -> Result<()> {
    let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| "python3".into());
    let (example, pad) = model.trace_example();
    let output = Command::new(&python)
        .arg("-c")
        .arg(CONVERTER)
        .arg(traced)
        .arg(onnx)
        .arg(ONNX_OPSET.to_string())
        .arg(serde_json::to_string(&example)?)
        .arg(pad.to_string())
        .output()
        .with_context(|| {
            format!(
                "running {} for the ONNX export (set {PYTHON_ENV} to a Python with torch and onnx)",
                python.to_string_lossy()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(5).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        bail!(
            "converting {} to ONNX with {} failed ({}):\n{}",
            traced.display(),
            python.to_string_lossy(),
            output.status,
            last.join("\n")
        );
    }
    Ok(())
}

/// The vocabulary beside the export, when it goes elsewhere than the model directory.
fn copy_vocab(model_dir: &ModelDir, out: &Path) -> Result<()> {
    let (from, to) = (model_dir.vocab_path(), out.join(albert_model::VOCAB_FILE));
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if !same(&from, &to) {
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}
