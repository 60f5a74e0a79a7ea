//! The fine-tuned model directory: `model.safetensors` + `config.json` + `vocab.txt`, readable by
//! [`load_model`], by HF (`AlbertModel.from_pretrained`, ALBERT encoders) and by `torch.nn` modules
//! (every tensor under PyTorch's own names), and all `predict` and `serve` need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

use crate::atomic_write::{write_bytes_atomically, write_safetensors};
use crate::encoder_spec::EncoderSpec;
use crate::error::{ModelError, Result};
use crate::loading::Assigner;
use crate::masked_lm::MaskedLm;
use crate::tagger::{Head, NerTagger, TaggerSpec};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
/// The files that make a model directory loadable; [`save_model`] writes them all.
pub const MODEL_FILES: [&str; 3] = [WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE];

/// Extra `config.json` key recording the head; HF ignores unknown keys.
pub const HEAD_KEY: &str = "ner_head";

/// Writes `dir/{model.safetensors, config.json, vocab.txt}` for a tagger; `config.json` is
/// [`config_json`]'s.
pub fn save_model(
    dir: impl AsRef<Path>,
    vs: &nn::VarStore,
    spec: &TaggerSpec,
    vocab_path: impl AsRef<Path>,
) -> Result<()> {
    write_model_dir(dir.as_ref(), vs, &config_json(spec), vocab_path.as_ref())
}

/// Writes `dir/{model.safetensors, config.json, vocab.txt}` for a pre-trained encoder: HF's
/// `AlbertForMaskedLM` / `BertForMaskedLM` directory (`AlbertForPreTraining` with the sentence-order
/// head), which a `task=ner` job takes as pretrained weights and transformers loads. The decoder is
/// tied to the word embeddings, so it is not written (as `save_pretrained` leaves tied weights out).
pub fn save_masked_lm(
    dir: impl AsRef<Path>,
    vs: &nn::VarStore,
    mlm: &MaskedLm,
    vocab_path: impl AsRef<Path>,
) -> Result<()> {
    let mut json = mlm.config().view().to_hf_json();
    json["architectures"] = serde_json::json!([mlm.architecture()]);
    write_model_dir(dir.as_ref(), vs, &json, vocab_path.as_ref())
}

/// Every VarStore variable goes out under its own name as contiguous fp32 on the CPU (whatever the
/// training device or precision), so the file loads anywhere. Files are written under temporary names
/// and renamed, so an interrupted save never leaves a half-written model that looks complete.
fn write_model_dir(dir: &Path, vs: &nn::VarStore, config: &Value, vocab_src: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;

    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let named: Vec<(String, Tensor)> = tch::no_grad(|| {
        vars.into_iter()
            .map(|(n, t)| {
                (
                    n,
                    t.detach()
                        .to_device(Device::Cpu)
                        .to_kind(Kind::Float)
                        .contiguous(),
                )
            })
            .collect()
    });
    let weights = dir.join(WEIGHTS_FILE);
    write_safetensors(&named, &weights).map_err(|e| ModelError::io(&weights, e))?;

    let config_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(config).expect("config serialises");
    write_atomic(&config_path, text.as_bytes())?;

    let vocab_dst = dir.join(VOCAB_FILE);
    let same =
        matches!((vocab_src.canonicalize(), vocab_dst.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if !same {
        let bytes = std::fs::read(vocab_src).map_err(|e| ModelError::io(vocab_src, e))?;
        write_atomic(&vocab_dst, &bytes)?;
    }
    Ok(())
}

/// `config.json` for a tagger: the encoder's part ([`EncoderSpec::to_config_json`]; HF's AlbertConfig
/// for ALBERT encoders), the labels and [`HEAD_KEY`].
pub fn config_json(spec: &TaggerSpec) -> Value {
    let mut v = spec.encoder.to_config_json();
    let id2label: serde_json::Map<String, Value> = spec
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), Value::from(l.as_str())))
        .collect();
    let label2id: serde_json::Map<String, Value> = spec
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), Value::from(i)))
        .collect();
    v["id2label"] = Value::Object(id2label);
    v["label2id"] = Value::Object(label2id);
    v[HEAD_KEY] = serde_json::to_value(spec.head).expect("head serialises");
    v
}

/// Reads a directory written by [`save_model`] onto `device`: the VarStore (all variables loaded,
/// strictly: a missing, unexpected or mis-shaped tensor is an error), the tagger over it, its spec
/// and the vocabulary path.
///
/// A `config.json` without [`HEAD_KEY`] (e.g. a plain HF AlbertForTokenClassification export) gets the
/// CRF head if the weights hold `crf.transitions`, else softmax. HF extras that the tagger does not
/// have (pooler, MLM head, position-id buffers) are skipped.
pub fn load_model(
    dir: impl AsRef<Path>,
    device: Device,
) -> Result<(nn::VarStore, NerTagger, TaggerSpec, PathBuf)> {
    let dir = dir.as_ref();
    let (config_path, text, value) = read_config(dir)?;
    let encoder = EncoderSpec::from_config_json(&value, &text, &config_path)?;
    let labels = labels_from_config(&value, &config_path)?;

    let weights_path = dir.join(WEIGHTS_FILE);
    let mut tensors = Tensor::read_safetensors(&weights_path).map_err(|e| ModelError::Torch {
        file: weights_path.clone(),
        source: e,
    })?;
    // Name order, so that the first error reported is the same on every run.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let head = match value.get(HEAD_KEY) {
        Some(h) => serde_json::from_value(h.clone()).map_err(|e| {
            ModelError::config(
                Some(&config_path),
                format!(
                    "{HEAD_KEY} must be {}: {e}",
                    <Head as ner_settings::Choice>::expected()
                ),
            )
        })?,
        None if tensors.iter().any(|(n, _)| n == "crf.transitions") => Head::Crf,
        None => Head::Softmax,
    };
    let spec = TaggerSpec {
        encoder,
        labels,
        head,
    };

    let vs = nn::VarStore::new(device);
    let tagger = NerTagger::new(&vs.root(), &spec);
    let mut assigner = Assigner::new(&vs, &weights_path, |_| true);
    let prefix = spec.encoder.transformer().map(|t| t.prefix());
    for (name, t) in &tensors {
        // A bare HF AlbertModel / BertModel export names the transformer's tensors without its
        // prefix (`albert.`, `bert.`).
        let target = match prefix {
            Some(prefix) if assigner.expected_shape(name).is_none() => format!("{prefix}.{name}"),
            _ => name.clone(),
        };
        if crate::pretrained::hf_unused(&target) {
            continue;
        }
        assigner.assign(&target, t)?;
    }
    assigner.finish()?;

    let vocab = dir.join(VOCAB_FILE);
    if !vocab.is_file() {
        return Err(ModelError::io(
            &vocab,
            std::io::Error::new(std::io::ErrorKind::NotFound, "vocabulary missing"),
        ));
    }
    Ok((vs, tagger, spec, vocab))
}

/// The encoder a model directory's `config.json` describes, read without touching the weights (so a
/// caller can check the model fits in memory before loading it).
pub fn read_encoder_spec(dir: impl AsRef<Path>) -> Result<EncoderSpec> {
    let (path, text, value) = read_config(dir.as_ref())?;
    EncoderSpec::from_config_json(&value, &text, &path)
}

/// `dir/config.json`: its path, text and JSON.
fn read_config(dir: &Path) -> Result<(PathBuf, String, Value)> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path: path.clone(),
        source: e,
    })?;
    Ok((path, text, value))
}

fn labels_from_config(value: &Value, path: &Path) -> Result<Vec<String>> {
    let Some(map) = value.get("id2label").and_then(Value::as_object) else {
        let architecture = value["architectures"][0].as_str().unwrap_or_default();
        let message = if architecture.ends_with("ForMaskedLM")
            || architecture.ends_with("ForPreTraining")
        {
            format!(
                "a pre-trained encoder ({architecture}, as task=pretrain writes it), not a tagger: \
                 fine-tune it first with a task=ner job that takes this directory as its pretrained \
                 weights (the `pretrained` channel or init_checkpoint)"
            )
        } else {
            "id2label is missing: not a tagger config".to_string()
        };
        return Err(ModelError::config(Some(path), message));
    };
    let mut labels = vec![None; map.len()];
    for (k, v) in map {
        let i: usize = k
            .parse()
            .ok()
            .filter(|i| *i < labels.len())
            .ok_or_else(|| {
                ModelError::config(
                    Some(path),
                    format!("id2label key {k:?} is not an id in 0..{}", map.len()),
                )
            })?;
        let label = v.as_str().ok_or_else(|| {
            ModelError::config(Some(path), format!("id2label[{k}] is not a string"))
        })?;
        labels[i] = Some(label.to_string());
    }
    Ok(labels
        .into_iter()
        .map(|l| l.expect("keys are distinct ids below len"))
        .collect())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_bytes_atomically(path, bytes).map_err(|e| ModelError::io(path, e))
}
