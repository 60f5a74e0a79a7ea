//! A trained tagger as files that other runtimes run: the emissions network traced into TorchScript
//! (which `export --format onnx` converts with torch's ONNX exporter), and its manifest that says how to
//! feed the network and decode what it returns exactly as `predict` does (labels, CRF tables and the BIO
//! constraints, the tokenizer's special ids, the windows).

use std::path::Path;

use albert_model::{Head, TransitionConstraints, FORBIDDEN};
use ner_settings::{Choice, ExportFormat};
use serde_json::{json, Value};
use tch::{CModule, Device, Tensor};

use crate::error::InferError;
use crate::trained_model::TrainedModel;

/// The network's inputs, each `[batch, sequence]` int64.
pub const INPUT_NAMES: [&str; 2] = ["input_ids", "attention_mask"];
/// The network's output, `[batch, sequence, labels]` float32: every token's tag scores.
pub const OUTPUT_NAME: &str = "emissions";

/// The file a network exported in `format` is written to.
pub fn network_file(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::TorchScript => "emissions.pt",
        ExportFormat::Onnx => "emissions.onnx",
    }
}

/// The manifest written beside the network of `format` (one per network, so that exports of both
/// formats into one directory each keep their own).
pub fn manifest_file(format: ExportFormat) -> String {
    format!("{}.json", network_file(format))
}

impl TrainedModel {
    /// Writes [`Self::trace_emissions`] to `path` (under a temporary name, then renamed).
    pub fn write_torchscript(&mut self, path: &Path) -> Result<(), InferError> {
        let module = self.trace_emissions()?;
        albert_model::write_atomically(path, |tmp| {
            module
                .save(tmp)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|source| InferError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// `NerTagger::token_emissions` traced into a TorchScript module whose `forward(input_ids,
    /// attention_mask)` returns the emissions of every token, in fp32, the weights held as constants.
    /// The trace runs on a batch of two rows of different lengths; the model's forward pass takes no
    /// shape as a number, so the module runs on any batch size and length (the export test runs others).
    /// Freezes the variables: constants of a trace must not require gradients.
    pub fn trace_emissions(&mut self) -> Result<CModule, InferError> {
        if self.device != Device::Cpu {
            return Err(self.export_error(format!(
                "the model must be on the CPU to be traced, not {:?}",
                self.device
            )));
        }
        self.vars.freeze();
        let (example, pad) = self.trace_example();
        let ids = Tensor::from_slice2(&example);
        let mask = ids.ne(pad).to_kind(tch::Kind::Int64);
        let tagger = &self.tagger;
        tch::no_grad(|| {
            CModule::create_by_tracing(
                "NerEmissions",
                "forward",
                &[ids, mask],
                &mut |inputs: &[Tensor]| vec![tagger.token_emissions(&inputs[0], &inputs[1])],
            )
        })
        .map_err(|e| self.export_error(format!("tracing the emissions network: {e}")))
    }

    /// The input ids a trace runs on, two windows of different lengths, the second padded, and the
    /// padding id (the mask is `ids != pad_id`). An exporter that runs the network once more to
    /// convert it uses the same.
    pub fn trace_example(&self) -> ([[i64; 4]; 2], i64) {
        let t = &self.tokenizer;
        let (cls, sep, pad, unk) = (t.cls_id(), t.sep_id(), t.pad_id(), t.unk_id());
        ([[cls, unk, unk, sep], [cls, unk, sep, pad]], pad)
    }

    /// The manifest of a network exported in `format` (`opset`: ONNX's): its file, inputs and output,
    /// and all a user needs to turn text into inputs and emissions into `predict`'s tags.
    pub fn export_manifest(&self, format: ExportFormat, opset: Option<u32>) -> Value {
        let dims =
            |names: &[&str]| Value::from(names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let t = &self.tokenizer;
        let s = self.settings;
        let mut manifest = json!({
            "format": format.name(),
            "file": network_file(format),
            "inputs": INPUT_NAMES.map(|name| json!({
                "name": name, "dtype": "int64", "shape": dims(&["batch", "sequence"]),
            })),
            "outputs": [{
                "name": OUTPUT_NAME, "dtype": "float32",
                "shape": dims(&["batch", "sequence", "labels"]),
            }],
            "labels": self.spec.labels,
            "tokenizer": {
                "vocab": albert_model::VOCAB_FILE,
                "do_lower_case": t.do_lower_case(),
                "cls_id": t.cls_id(), "sep_id": t.sep_id(), "pad_id": t.pad_id(), "unk_id": t.unk_id(),
            },
            "max_seq_length": s.max_seq_length,
            "window_stride": s.window_stride,
            "max_position_embeddings": self.spec.encoder.max_positions(),
            "decode": self.decode_manifest(),
            "how_to_use": HOW_TO_USE,
        });
        if let Some(opset) = opset {
            manifest["opset"] = json!(opset);
        }
        manifest
    }

    /// The tables `predict` decodes with, and how it uses them.
    fn decode_manifest(&self) -> Value {
        let k = self.spec.labels.len();
        let constraints = self
            .settings
            .bio_constraints
            .then(|| TransitionConstraints::bio(&self.spec.labels));
        let (start, end, transitions) = match self.tagger.crf() {
            Some(crf) => (
                vector(crf.start_transitions()),
                vector(crf.end_transitions()),
                vector(crf.transitions())
                    .chunks(k)
                    .map(<[f32]>::to_vec)
                    .collect(),
            ),
            None => (vec![0.0; k], vec![0.0; k], vec![vec![0.0; k]; k]),
        };
        let (decoder, scores) = match (self.spec.head, &constraints) {
            (Head::Crf, _) => ("viterbi", "emissions"),
            (Head::Softmax, Some(_)) => ("viterbi", "log_softmax"),
            (Head::Softmax, None) => ("argmax", "emissions"),
        };
        let c = constraints.as_ref();
        let allowed_start: Vec<bool> = (0..k)
            .map(|i| c.is_none_or(|c| c.allows_start(i)))
            .collect();
        let allowed_end: Vec<bool> = (0..k).map(|i| c.is_none_or(|c| c.allows_end(i))).collect();
        let allowed: Vec<Vec<bool>> = (0..k)
            .map(|from| {
                (0..k)
                    .map(|to| c.is_none_or(|c| c.allows(from, to)))
                    .collect()
            })
            .collect();
        json!({
            "head": self.spec.head.name(),
            "decoder": decoder,
            "scores": scores,
            "bio_constraints": constraints.is_some(),
            "start_transitions": start,
            "end_transitions": end,
            "transitions": transitions,
            "allowed_start": allowed_start,
            "allowed_end": allowed_end,
            "allowed": allowed,
            "forbidden_score": FORBIDDEN,
        })
    }

    fn export_error(&self, message: String) -> InferError {
        InferError::Settings {
            path: self.dir.clone(),
            message,
        }
    }
}

/// A float tensor's values, row-major.
fn vector(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).reshape([-1]))
        .expect("a float tensor converts")
}

/// The manifest's own account of how `predict` uses the network, for a reader without the README.
const HOW_TO_USE: &str = "Inputs: per window [CLS] + the text's word pieces + [SEP] (vocab.txt, \
BERT-Chinese tokenisation: one piece per CJK character), at most max_seq_length pieces, padded with \
pad_id; attention_mask 1 on real tokens, 0 on padding. Output: each token's tag scores. A unit (a CJK \
character, or a word of letters/digits) takes the scores of its first piece; [CLS], [SEP], padding and \
later pieces of a word are not decoded. decoder viterbi: the best tag path over a sentence's units, \
score = start_transitions[t0] + sum of transitions[t(i-1)][t(i)] + sum of scores[i][t(i)] + \
end_transitions[t(n-1)], where scores are the emissions (or their log_softmax when scores is \
log_softmax) and every entry that allowed_start, allowed or allowed_end marks false is replaced by \
forbidden_score (the BIO constraints). decoder argmax: each unit's best tag. Texts longer than a window \
are cut into windows of max_seq_length pieces overlapping by window_stride.";
