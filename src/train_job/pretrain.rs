//! `task=pretrain`: the transformer's masked-language-model pre-training on the `training` channel's
//! raw text, from the same sources of weights and architecture as fine-tuning; the model directory
//! then holds an `AlbertForMaskedLM` / `BertForMaskedLM` that a `task=ner` job takes as pretrained
//! weights (`pretrained` channel, `init_checkpoint`, `pretrained_model_uri`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use albert_model::{MaskedLm, TransformerConfig};
use anyhow::{bail, Result};
use ner_data::pretraining::{Masking, SentenceOrder, WholeWordTokenizer};
use ner_data::Tokenizer;
use ner_dist::Finished;
use ner_infer::ModelDir;
use ner_train::{
    pretrain, PretrainConfig, PretrainData, PretrainOutputs, PretrainSummary, Replicas,
};
use sagemaker_contract::{Hyperparameters, SageMakerPaths};
use serde_json::json;
use tch::nn::VarStore;
use tracing::info;

use super::model_setup::{JobStart, ModelSource};
use super::results;

/// Pre-trains as one process, or as one replica of a group; rank 0 alone writes.
pub fn run(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    device: tch::Device,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<Finished> {
    let writes = replicas.rank() == 0;
    let JobStart {
        channels,
        scratch,
        source,
        precision,
        tokenizer,
        encoder,
    } = JobStart::prepare(paths, hp, device, writes)?;
    let Some(config) = encoder.transformer_alone() else {
        bail!(
            "task=pretrain pre-trains a transformer: encoder={} has {}; use encoder=albert or \
             encoder=bert (a BiLSTM over it is added when fine-tuning)",
            hp.encoder,
            if encoder.transformer().is_some() {
                "a BiLSTM over it"
            } else {
                "no transformer"
            }
        );
    };
    check_sentence_order(hp, &config)?;
    let (mut vs, mlm) = build(hp, &config, &source, device)?;
    let data = PretrainData {
        train: channels.train.clone(),
        validation: channels.validation.clone(),
        masking: masking(hp, &tokenizer, &source)?,
        words: Arc::new(WholeWordTokenizer::new(tokenizer)),
        max_seq_length: hp.model.max_seq_length,
    };
    let cfg = PretrainConfig {
        train: hp.train.clone(),
        precision,
        device,
    };
    let outputs = match writes {
        true => PretrainOutputs {
            model_dir: Some(ModelDir::new(&paths.model_dir)),
            checkpoint_dir: Some(paths.checkpoint_dir.clone()),
            tensorboard_dir: Some(paths.tensorboard_dir.clone()),
            eval_dir: Some(paths.output_data_dir.clone()),
            vocab_path: source.vocab.clone(),
        },
        false => PretrainOutputs::default(),
    };
    let summary = pretrain(&mlm, &mut vs, &data, &cfg, &outputs, stop, replicas)?;
    let _ = std::fs::remove_dir_all(&scratch);
    finish(paths, hp, &summary, writes)
}

/// The masked LM's variables on `device` (seeded), with the weights the job gives loaded: the
/// encoder, and the checkpoint's own MLM head where it has one.
fn build(
    hp: &Hyperparameters,
    config: &TransformerConfig,
    source: &ModelSource,
    device: tch::Device,
) -> Result<(VarStore, MaskedLm)> {
    tch::manual_seed(hp.train.seed as i64);
    let mut vs = VarStore::new(device);
    let mlm = if hp.sentence_order_prediction {
        MaskedLm::with_sentence_order(&vs.root(), config)?
    } else {
        MaskedLm::new(&vs.root(), config)
    };
    if let Some(weights) = &source.weights {
        let report = weights.load_into(&mut vs)?;
        info!("pretrained: {report}");
        if !report.fresh.is_empty() {
            info!(
                "new pre-training heads ({}): the weights hold no complete head of this model's shape",
                report.fresh.join(", ")
            );
        }
    }
    Ok((vs, mlm))
}

/// Sentence-order prediction is ALBERT's, and needs room for two segments.
fn check_sentence_order(hp: &Hyperparameters, config: &TransformerConfig) -> Result<()> {
    if !hp.sentence_order_prediction {
        return Ok(());
    }
    if !matches!(config, TransformerConfig::Albert(_)) {
        bail!(
            "sentence_order_prediction=true is ALBERT's pre-training task; encoder={} has none \
             (BERT's next-sentence prediction is not offered): set it to false",
            hp.encoder
        );
    }
    if hp.model.max_seq_length < 4 {
        bail!(
            "sentence_order_prediction=true needs max_seq_length of at least 4 ([CLS] A [SEP] B \
             [SEP]); it is {}",
            hp.model.max_seq_length
        );
    }
    Ok(())
}

/// Pieces after which a segment may end: the sentence-final punctuation the vocabulary holds.
const SENTENCE_ENDS: [&str; 8] = ["。", "！", "？", "；", "!", "?", ";", "…"];

/// Whole-word masking at `masking_rate` with the vocabulary's `[MASK]`; segment pairs first with
/// `sentence_order_prediction`.
fn masking(hp: &Hyperparameters, tokenizer: &Tokenizer, source: &ModelSource) -> Result<Masking> {
    let Some(mask_id) = tokenizer.id("[MASK]") else {
        bail!(
            "the vocabulary {} has no [MASK] token, which masked-language-model pre-training needs",
            source.vocab.display()
        );
    };
    let mut special_ids = vec![tokenizer.pad_id(), tokenizer.unk_id(), tokenizer.cls_id()];
    special_ids.extend([tokenizer.sep_id(), mask_id]);
    Ok(Masking {
        rate: hp.masking_rate,
        mask_id,
        vocab_size: tokenizer.vocab_size() as i64,
        special_ids,
        seed: hp.train.seed,
        sentence_order: hp.sentence_order_prediction.then(|| SentenceOrder {
            sentence_end_ids: SENTENCE_ENDS
                .iter()
                .filter_map(|p| tokenizer.id(p))
                .collect(),
            sep_id: tokenizer.sep_id(),
        }),
    })
}

/// The stop, or the summary and the job's record beside the model (never a success without one).
fn finish(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    summary: &PretrainSummary,
    writes: bool,
) -> Result<Finished> {
    if let Some(stopped) = results::stopped(&summary.outcome, summary.global_step) {
        return Ok(stopped);
    }
    let eval = summary.last_eval;
    info!(
        "pre-training finished{}: {} steps in {:.0} s; held-out loss {}",
        if summary.time_budget_reached {
            " (max_train_seconds)"
        } else {
            ""
        },
        summary.global_step,
        summary.train_seconds,
        eval.map_or("n/a".into(), |e| format!(
            "{:.4} (perplexity {:.2}, mlm_accuracy {:.4})",
            e.loss, e.perplexity, e.accuracy
        ))
    );
    if !writes {
        return Ok(Finished::Completed);
    }
    let model_dir = ModelDir::new(&paths.model_dir);
    if !model_dir.holds_model() {
        bail!(
            "pre-training ended without a complete model in {}; this is a bug in albert-ner: the \
             checkpoints in {} are intact",
            paths.model_dir.display(),
            paths.checkpoint_dir.display()
        );
    }
    let metrics = json!({
        "task": "pretrain",
        "global_step": summary.global_step,
        "train_seconds": summary.train_seconds,
        "time_budget_reached": summary.time_budget_reached,
        "sequences_per_pass": summary.sequences_per_pass,
        "held_out_sequences": summary.held_out,
        "held_out": eval,
        "evaluation_history": summary.history,
        "resumed_from": summary.resumed_from,
    });
    model_dir.write_job_record(&hp.resolved_json(), &metrics)?;
    info!("pre-trained model written to {}", paths.model_dir.display());
    Ok(Finished::Completed)
}
