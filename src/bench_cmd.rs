//! `bench`: training and decoding throughput of our ALBERT+CRF through the trainer's own code path, one
//! JSON line per run, in the same fields as the Python peer (`hf_albert_crf.py --mode bench`) so
//! `scripts/bench.sh` can print both side by side. A measuring tool, not a test.

use std::path::PathBuf;
use std::time::Instant;

use albert_model::{
    BiLstmConfig, CharEmbeddingConfig, EncoderSpec, Head, NerTagger, TaggerSpec, TransformerConfig,
};
use anyhow::{Context, Result};
use clap::Parser;
use ner_data::{collate, read_file, Batcher, DataFormat, LabelSet, Sentence, Tokenizer};
use ner_infer::{BatchTensors, CpuSupport, InferenceMode, Prepared};
use ner_settings::{Device, Encoder, InferencePrecision};
use ner_train::AdamW;
use serde_json::json;
use tch::Kind;

/// Measure training steps/s and Viterbi sentences/s.
#[derive(Parser, Debug)]
#[command(name = "bench")]
pub struct Args {
    /// `tiny`, `base` (albert_config/{albert,bert}_config_{tiny,base}.json, by the encoder's family) or
    /// a config file.
    #[arg(long, default_value = "tiny")]
    pub config: String,
    /// `albert`, `bert`, `bilstm`, `albert_bilstm` or `bert_bilstm` (the transformer from --config).
    #[arg(long, default_value = "albert")]
    pub encoder: Encoder,
    #[arg(long, default_value_t = 100)]
    pub char_embedding_size: i64,
    #[arg(long, default_value_t = 128)]
    pub lstm_hidden_size: i64,
    #[arg(long, default_value_t = 1)]
    pub lstm_layers: i64,
    #[arg(long, default_value = "albert_config/vocab.txt")]
    pub vocab: PathBuf,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// `fixed`: every sequence exactly --seq-len tokens. `real`: sentences from --data, windowed to
    /// --seq-len and length-bucketed as the trainer batches them.
    #[arg(long, default_value = "fixed")]
    pub lengths: String,
    /// BIO file for `--lengths real` and for decoding.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Sentences to decode for the inference figure (0: skip).
    #[arg(long, default_value_t = 512)]
    pub infer_sents: usize,
    #[arg(long, default_value_t = 64)]
    pub infer_batch: usize,
    /// What the tagging figure computes in (`auto`, `fp32`, `int8`, `bf16`), as `predict --precision`;
    /// the training figure is always the trainer's.
    #[arg(long, default_value = "fp32")]
    pub precision: InferencePrecision,
    #[arg(long, default_value_t = 2)]
    pub threads: i32,
    /// `cpu`, `cuda` (or `gpu`) or `auto`.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    #[arg(long, default_value_t = 42)]
    pub seed: i64,
}

/// `tiny`, `base` (or `large`, ALBERT only) name the configs under `albert_config/` of the encoder's
/// family (`albert_config_*.json`, `bert_config_*.json`); anything else is a config file.
fn config(spec: &str, encoder: Encoder) -> Result<TransformerConfig> {
    let family = match encoder.transformer() {
        Some(Encoder::Bert) => "bert",
        _ => "albert",
    };
    let path = match spec {
        "tiny" | "base" | "large" => {
            PathBuf::from(format!("albert_config/{family}_config_{spec}.json"))
        }
        p => PathBuf::from(p),
    };
    TransformerConfig::from_json_file(&path, encoder)
        .with_context(|| format!("config {}", path.display()))
}

/// Sentences of exactly `len` random CJK characters with random BIO tags.
fn synthetic(n: usize, len: usize, seed: u64) -> Vec<Sentence> {
    let mut x = seed.wrapping_add(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"];
    (0..n)
        .map(|i| Sentence {
            chars: (0..len)
                .map(|_| char::from_u32(0x4E00 + (next() % 3000) as u32).unwrap())
                .collect(),
            tags: (0..len)
                .map(|_| tags[(next() % 7) as usize].to_string())
                .collect(),
            line: i + 1,
            tokens: Vec::new(),
        })
        .collect()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs the benchmark and returns its JSON line.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let device = crate::device::select(a.device)?;
    tch::set_num_threads(a.threads);
    tch::manual_seed(a.seed);
    let tokenizer = Tokenizer::from_vocab_file(&a.vocab, true)?;
    let sentences = if a.lengths == "real" {
        let path = a
            .data
            .as_ref()
            .context("--lengths real needs --data FILE")?;
        read_file(path, DataFormat::Auto)?.0
    } else {
        synthetic(a.batch * 8, a.seq_len - 2, a.seed as u64)
    };
    let labels = LabelSet::from_sentences(&sentences);
    let bench = Bench {
        a,
        device,
        tokenizer,
        labels,
        sentences,
    };
    let spec = bench.tagger_spec()?;
    let vs = tch::nn::VarStore::new(device);
    let mut tagger = NerTagger::new(&vs.root(), &spec);
    let mut out = bench.training(&vs, &tagger)?;
    out["encoder"] = json!(spec.encoder.describe());
    if a.infer_sents > 0 {
        // Training is over: the tagger's linear layers take the precision the tagging figure measures.
        let mode =
            InferenceMode::resolve(a.precision, device, &spec.encoder, CpuSupport::detect())?;
        tagger.convert_linear_layers(mode.weights)?;
        out["precision"] = json!(mode.why);
        let (sentences, per_s) = bench.tagging(&tagger, mode.autocast)?;
        out["infer_sents"] = json!(sentences);
        out["infer_sents_per_s"] = json!(per_s);
    }
    out["peak_rss_mb"] = json!(peak_rss_mb());
    Ok(out)
}

/// What every measurement shares: the arguments, the device and the data.
struct Bench<'a> {
    a: &'a Args,
    device: tch::Device,
    tokenizer: Tokenizer,
    labels: LabelSet,
    sentences: Vec<Sentence>,
}

impl Bench<'_> {
    /// The tagger `--config` and `--encoder` describe, with a CRF head.
    fn tagger_spec(&self) -> Result<TaggerSpec> {
        let a = self.a;
        let lstm = BiLstmConfig {
            hidden_size: a.lstm_hidden_size,
            num_layers: a.lstm_layers,
            dropout: 0.5,
        };
        let chars = CharEmbeddingConfig {
            vocab_size: self.tokenizer.vocab_size() as i64,
            char_embedding_size: a.char_embedding_size,
            pad_token_id: self.tokenizer.pad_id(),
        };
        let transformer = config(&a.config, a.encoder)?;
        let encoder = EncoderSpec::assemble(a.encoder, Some(transformer), lstm, chars)?;
        Ok(TaggerSpec {
            encoder,
            labels: self.labels.labels().to_vec(),
            head: Head::Crf,
        })
    }

    /// `--warmup` then `--steps` optimiser steps through the trainer's own calls; the JSON line's
    /// training figures.
    fn training(&self, vs: &tch::nn::VarStore, tagger: &NerTagger) -> Result<serde_json::Value> {
        let (a, device) = (self.a, self.device);
        let params: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
        let rates = ner_train::PartRates {
            lstm: 1.0,
            head: 100.0,
        };
        let mut opt = AdamW::for_tagger(vs, rates, 0.01);
        let t0 = Instant::now();
        let prepared = self.prepare(&self.sentences)?;
        let data_s = t0.elapsed().as_secs_f64();
        let batcher = Batcher::new(&prepared.features, a.batch);
        let plan = batcher.epoch(a.seed as u64, 0);
        let mut batches = plan.iter().cycle();
        let mut step = |timed: &mut Vec<f64>, samples: &mut usize, losses: &mut Vec<f64>| {
            let idx = batches.next().expect("at least one batch");
            let batch = collate(&prepared.features, idx);
            let start = Instant::now();
            let t = BatchTensors::new(&batch, device);
            let em = tagger
                .emissions(&t.input_ids, &t.attention_mask, &t.tag_positions, true)
                .to_kind(Kind::Float);
            let loss = tagger.loss(&em, &t.tags, &t.tag_mask);
            opt.zero_grad();
            loss.backward();
            opt.clip_grad_norm(1.0);
            opt.step(2e-5);
            losses.push(f64::try_from(&loss).unwrap_or(f64::NAN));
            timed.push(start.elapsed().as_secs_f64());
            *samples += batch.batch_size;
        };
        let (mut warm_t, mut warm_n, mut losses) = (Vec::new(), 0, Vec::new());
        for _ in 0..a.warmup {
            step(&mut warm_t, &mut warm_n, &mut losses);
        }
        let (mut times, mut samples) = (Vec::new(), 0usize);
        let t_train = Instant::now();
        for _ in 0..a.steps {
            step(&mut times, &mut samples, &mut losses);
        }
        let train_s = t_train.elapsed().as_secs_f64();
        let peak_train = peak_rss_mb();
        times.sort_by(f64::total_cmp);
        Ok(json!({
            "tool": "albert-ner", "config": a.config, "params": params, "batch": a.batch, "seq_len": a.seq_len,
            "lengths": a.lengths, "threads": a.threads, "device": a.device.to_string(), "data_load_s": data_s,
            "steps": a.steps, "train_s": train_s, "train_samples_per_s": samples as f64 / train_s,
            "step_ms_median": 1000.0 * times[times.len() / 2],
            "loss_first": losses.first(), "loss_last": losses.last(), "peak_rss_train_mb": peak_train,
        }))
    }

    /// Tags `--infer-sents` sentences twice (the first warms up); the sentences and the second
    /// pass's sentences per second.
    fn tagging(&self, tagger: &NerTagger, autocast: ner_infer::Precision) -> Result<(usize, f64)> {
        let a = self.a;
        // At a fixed length every decoded sentence is exactly as long as the trained ones.
        let infer: Vec<Sentence> = if a.lengths == "real" {
            self.sentences.iter().take(a.infer_sents).cloned().collect()
        } else {
            synthetic(a.infer_sents, a.seq_len - 2, a.seed as u64 + 1)
        };
        let prepared = self.prepare(&infer)?;
        let settings = ner_infer::PredictSettings {
            device: self.device,
            precision: autocast,
            bio_constraints: false,
            with_loss: false,
            with_confidence: false,
        };
        let chunks = ner_infer::length_sorted_chunks(&prepared.features, a.infer_batch);
        let labels = &self.labels;
        let tag =
            || ner_infer::predict_chunks(tagger, labels, &prepared, settings, &chunks, || true);
        let _ = tag();
        let start = Instant::now();
        let _ = tag();
        Ok((
            infer.len(),
            infer.len() as f64 / start.elapsed().as_secs_f64(),
        ))
    }

    fn prepare(&self, sentences: &[Sentence]) -> Result<Prepared> {
        let a = self.a;
        Ok(Prepared::new(
            sentences,
            &self.tokenizer,
            &self.labels,
            a.seq_len,
            32,
        )?)
    }
}
