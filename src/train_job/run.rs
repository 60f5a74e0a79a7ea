//! The training job, step by step.

use std::sync::atomic::{AtomicBool, Ordering};

use albert_model::{Head, NerTagger, TaggerSpec};
use anyhow::{bail, Context, Result};
use ner_data::Tokenizer;
use ner_dist::ProcessGroup;
use ner_infer::{Prepared, TrainedModel};
use ner_train::{
    fit, EvalSet, MixedPrecision, Outcome, PartRates, Precision, Replicas, TrainConfig,
    TrainOutputs,
};
use sagemaker_contract::{DataChannels, Distributed, HostRole, Hyperparameters, SageMakerPaths};
use tch::nn::VarStore;
use tracing::{info, warn};

use super::data;
use super::launch::{self, Launch};
use super::model_setup::{self, ModelSource};
use super::results;

/// How a job that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    Completed,
    /// SIGTERM: a checkpoint was written; a restart resumes from it.
    Stopped,
}

/// Runs one training job against the layout in `paths`; `stop` is raised by SIGTERM. Decides first
/// whether this process trains alone, starts its host's workers, or is one of them.
pub fn run(paths: &SageMakerPaths, stop: &AtomicBool) -> Result<Finished> {
    let hp = Hyperparameters::load(paths)?;
    for w in &hp.warnings {
        warn!("{w}");
    }
    let resource = paths.resource_config()?;
    let role = HostRole::decide(
        resource.as_ref(),
        paths.input_data_config()?.as_ref(),
        hp.distributed == Distributed::Auto,
    )?;
    if let Some(m) = role.message() {
        info!("{m}");
    }
    if !role.trains() {
        return Ok(Finished::Completed);
    }
    if !hp.do_train {
        bail!("do_train=false: this image trains; to tag text with a trained model use the `predict` binary");
    }
    // First of all libtorch calls: a CUDA backend loaded later would stay invisible.
    let device = model_setup::device(hp.device)?;
    let gpus = if device.is_cuda() {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    match launch::decide(&hp, &role, gpus)? {
        Launch::Single => train(paths, &hp, device, stop, None),
        Launch::Agent { workers, host } => {
            launch::run_agent(&hp, resource.as_ref(), &workers, &host, stop)
        }
        Launch::Worker(env) => {
            let device = launch::worker_device(device, env.local_rank)?;
            let group = launch::join(&env, device, &hp)?;
            let finished = train(paths, &hp, device, stop, Some(&group))
                .map_err(|e| launch::report_failure(&group, e));
            // No rank leaves before every rank is done: SageMaker (and Compose in local mode) end
            // the job when one host's container exits.
            if finished.is_ok() {
                group.barrier().context("the final barrier")?;
            }
            finished
        }
    }
}

/// Trains as one process, or as one replica of `group`; rank 0 alone writes.
fn train(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    device: tch::Device,
    stop: &AtomicBool,
    group: Option<&ProcessGroup>,
) -> Result<Finished> {
    let replicas = group.map_or(Replicas::Single, |g| Replicas::Group(g, device));
    let writes = replicas.rank() == 0;
    let channels = DataChannels::resolve(paths, hp.data_dir.as_deref())?;
    let scratch = std::env::temp_dir().join(format!("albert-ner-{}", std::process::id()));
    let source = ModelSource::resolve(paths, hp, &channels, &scratch)?;
    info!("model: {}", source.origin);
    if let Some(albert) = &source.albert {
        crate::memory_check::check_fits_in_memory(
            albert,
            crate::memory_check::Use::Training(device),
        )?;
    }
    if source.albert.is_some() && source.weights.is_none() && hp.learning_rate < 1e-4 {
        warn!(
            "learning_rate={} is a rate for fine-tuning pretrained weights; from scratch a tiny ALBERT \
             learnt MSRA best at 5e-4 with crf_learning_rate_multiplier=10 (README, \"Accuracy for a \
             wall-clock budget\")",
            hp.learning_rate
        );
    }
    let (precision, why) = Precision::resolve(mixed_precision(hp), device);
    info!("device: {device:?}; precision: {why}");
    if writes {
        paths.create_output_dirs()?;
        paths.check_writable()?;
        for partial in paths.remove_partial_files()? {
            info!("removed a half-written file: {}", partial.display());
        }
    }

    let tokenizer = Tokenizer::from_vocab_file(&source.vocab, hp.do_lower_case)
        .with_context(|| format!("vocab_file {}", source.vocab.display()))?;
    let encoder = source.encoder_spec(hp, &tokenizer);
    info!("encoder: {}", encoder.describe());
    if tokenizer.vocab_size() as i64 > encoder.vocab_size() {
        bail!(
            "the vocabulary {} has {} entries but the model config has vocab_size={}: they must match",
            source.vocab.display(),
            tokenizer.vocab_size(),
            encoder.vocab_size()
        );
    }
    let Some(data) = data::load(hp, &channels, &tokenizer, stop)? else {
        info!("stopped by SIGTERM while reading the data: nothing to save yet");
        return Ok(Finished::Stopped);
    };
    if let Some(max) = encoder.max_positions() {
        if hp.max_seq_length as i64 > max {
            bail!(
                "max_seq_length={} exceeds the model's max_position_embeddings={max}",
                hp.max_seq_length
            );
        }
    }
    let head = match hp.head {
        sagemaker_contract::Head::Crf => Head::Crf,
        sagemaker_contract::Head::Softmax => Head::Softmax,
    };
    let spec = TaggerSpec {
        encoder,
        labels: data.labels.labels().to_vec(),
        head,
    };
    tch::manual_seed(hp.seed as i64);
    let mut vs = VarStore::new(device);
    let mut tagger = NerTagger::new(&vs.root(), &spec);
    if let Some(weights) = &source.weights {
        let report = weights.load_into(&mut vs)?;
        info!("pretrained: {report}");
    }
    if let Some(file) = &channels.embeddings {
        model_setup::load_char_vectors(file, &tokenizer, hp.char_embedding_size, &mut tagger)?;
    }

    let prepare = |s: &[ner_data::Sentence]| {
        Prepared::new(
            s,
            &tokenizer,
            &data.labels,
            hp.max_seq_length,
            hp.window_stride,
        )
    };
    let train = prepare(&data.train)?;
    let validation = match data.validation {
        Some(sentences) => Some(EvalSet {
            prepared: prepare(&sentences)?,
            sentences,
        }),
        None => None,
    };
    let cfg = TrainConfig {
        num_train_epochs: hp.num_train_epochs,
        max_steps: hp.max_steps,
        max_train_seconds: hp.max_train_seconds,
        train_batch_size: hp.train_batch_size,
        eval_batch_size: hp.eval_batch_size,
        learning_rate: hp.learning_rate,
        lr_multipliers: PartRates {
            lstm: hp.lstm_learning_rate_multiplier,
            head: hp.crf_learning_rate_multiplier,
        },
        weight_decay: hp.weight_decay,
        warmup_proportion: hp.warmup_proportion,
        max_grad_norm: hp.max_grad_norm,
        gradient_accumulation_steps: hp.gradient_accumulation_steps,
        seed: hp.seed,
        precision,
        device,
        logging_steps: hp.logging_steps,
        eval_steps: hp.eval_steps,
        early_stopping_patience: hp.early_stopping_patience,
        checkpoint_steps: hp.save_checkpoints_steps,
        keep_checkpoints: hp.keep_checkpoints,
        bio_constraints: hp.bio_constraints,
    };
    let outputs = if writes {
        TrainOutputs {
            model_dir: Some(paths.model_dir.clone()),
            checkpoint_dir: Some(paths.checkpoint_dir.clone()),
            tensorboard_dir: Some(paths.tensorboard_dir.clone()),
            eval_dir: Some(paths.output_data_dir.clone()),
            vocab_path: source.vocab.clone(),
        }
    } else {
        TrainOutputs::nowhere()
    };
    let summary = fit(
        &tagger,
        &mut vs,
        &spec,
        &data.labels,
        &train,
        validation.as_ref(),
        &cfg,
        &outputs,
        stop,
        replicas,
    )?;
    if let Outcome::Stopped { checkpoint } = &summary.outcome {
        match checkpoint {
            Some(c) => info!(
                "stopped by SIGTERM at step {}: checkpoint {}; a restart resumes from it",
                summary.global_step,
                c.display()
            ),
            None => info!("stopped by SIGTERM at step {}", summary.global_step),
        }
        return Ok(Finished::Stopped);
    }
    info!(
        "training finished{}: {} steps in {:.0} s; best validation entity F1 {}",
        if summary.time_budget_reached {
            " (max_train_seconds)"
        } else {
            ""
        },
        summary.global_step,
        summary.train_seconds,
        summary.best_f1.map_or("n/a".into(), |f| format!(
            "{f:.4} (step {})",
            summary.best_step.unwrap_or(0)
        ))
    );

    // Never a success without a model: the trainer keeps one, and this proves it.
    if writes && !albert_model::holds_model(&paths.model_dir) {
        bail!(
            "training ended without a complete model in {} (model.safetensors, config.json, vocab.txt); \
             this is a bug in albert-ner: the checkpoints in {} are intact",
            paths.model_dir.display(),
            paths.checkpoint_dir.display()
        );
    }
    // Score and tag the test data with the model as saved, so what is reported is what ships.
    let test = match data.test {
        Some(sentences) => {
            let set = EvalSet {
                prepared: prepare(&sentences)?,
                sentences,
            };
            let (_vs, best) = saved_model(paths, &spec, device, replicas)?;
            let written = writes.then_some(paths);
            results::test(
                &best,
                &data.labels,
                &set,
                &cfg,
                &summary,
                written,
                stop,
                replicas,
            )?
        }
        None => None,
    };
    if writes {
        results::write_model_files(paths, hp, &summary, test.as_ref())?;
        info!("model written to {}", paths.model_dir.display());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if stop.load(Ordering::SeqCst) {
        info!("stopped by SIGTERM after training: the test split was not scored");
        return Ok(Finished::Stopped);
    }
    Ok(Finished::Completed)
}

/// The model as saved, on every replica: rank 0 reads the model directory and shares its weights.
fn saved_model(
    paths: &SageMakerPaths,
    spec: &TaggerSpec,
    device: tch::Device,
    replicas: Replicas,
) -> Result<(VarStore, NerTagger)> {
    let (vs, tagger) = if replicas.rank() == 0 {
        TrainedModel::load(&paths.model_dir, device)?.into_tagger()
    } else {
        let vs = VarStore::new(device);
        let tagger = NerTagger::new(&vs.root(), spec);
        (vs, tagger)
    };
    replicas.broadcast_vars(&vs)?;
    Ok((vs, tagger))
}

fn mixed_precision(hp: &Hyperparameters) -> MixedPrecision {
    match hp.mixed_precision {
        sagemaker_contract::MixedPrecision::Auto => MixedPrecision::Auto,
        sagemaker_contract::MixedPrecision::Bf16 => MixedPrecision::Bf16,
        sagemaker_contract::MixedPrecision::Fp16 => MixedPrecision::Fp16,
        sagemaker_contract::MixedPrecision::Off => MixedPrecision::Off,
    }
}
