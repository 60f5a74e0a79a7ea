//! The training job, step by step: settings → launch → data → model → fit → results.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use albert_model::{NerTagger, TaggerSpec};
use anyhow::{bail, Context, Result};
use ner_data::{LabelSet, Sentence, Tokenizer};
use ner_dist::{Agent, Finished, Hosts, Launch, LaunchSettings, WorkerEnv};
use ner_infer::{ModelDir, Prepared, TrainedModel};
use ner_settings::{Distributed, InferencePrecision, ModelSettings, Task};
use ner_train::{fit, EvalSet, Replicas, TrainConfig, TrainOutputs, TrainSummary};
use sagemaker_contract::{HostRole, Hyperparameters, ResourceConfig, SageMakerPaths};
use tch::nn::VarStore;
use tracing::{info, warn};

use super::data;
use super::model_setup::{self, JobStart};
use super::results;

/// Runs one training job against the layout in `paths`; `stop` is raised by SIGTERM. Decides first
/// whether this process trains alone, starts its host's workers, or is one of them.
pub fn run(paths: &SageMakerPaths, stop: &AtomicBool) -> Result<Finished> {
    let hp = Hyperparameters::load(paths)?;
    // The supervisor or agent that started this process has said these already.
    let supervised = super::supervise::is_supervised();
    for w in hp.warnings.iter().filter(|_| !supervised) {
        warn!("{w}");
    }
    let resource = paths.resource_config()?;
    let role = HostRole::decide(
        resource.as_ref(),
        paths.input_data_config()?.as_ref(),
        hp.distributed == Distributed::Auto,
    )?;
    if let Some(m) = role.message().filter(|_| !supervised) {
        info!("{m}");
    }
    if !role.trains() {
        return Ok(Finished::Completed);
    }
    if !hp.do_train {
        bail!("do_train=false: this image trains; to tag text with a trained model use the `predict` binary");
    }
    // First of all libtorch calls: a CUDA backend loaded later would stay invisible.
    let device = crate::device::select(hp.device)?;
    let gpus = if device.is_cuda() {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    let launch = launch_settings(&hp);
    let hosts = match &role {
        HostRole::Member { index, hosts } => Some(Hosts {
            index: *index,
            names: hosts.clone(),
        }),
        _ => None,
    };
    match ner_dist::decide(&launch, hosts.as_ref(), gpus)? {
        Launch::Single if supervised => train(paths, &hp, device, stop, Replicas::Single),
        Launch::Single => super::supervise::train_in_child(&hp, stop),
        Launch::Agent { workers, host } => {
            run_agent(&launch, resource.as_ref(), &workers, &host, stop)
        }
        Launch::Worker(env) => train_as_worker(paths, &hp, device, &env, &launch, stop),
    }
}

/// The launch policy's settings, from the hyperparameters that name them.
fn launch_settings(hp: &Hyperparameters) -> LaunchSettings {
    LaunchSettings {
        distributed: hp.distributed == Distributed::Auto,
        processes_per_host: hp.processes_per_host,
        master_port: hp.master_port,
        timeout: Duration::from_secs_f64(hp.distributed_timeout_seconds),
    }
}

/// This host's agent: each worker is this binary again, started with its rank's variables.
fn run_agent(
    launch: &LaunchSettings,
    resource: Option<&ResourceConfig>,
    workers: &[WorkerEnv],
    host: &str,
    stop: &AtomicBool,
) -> Result<Finished> {
    let exe = std::env::current_exe().context("locating the train binary to start workers")?;
    let agent = Agent {
        workers,
        host,
        network_interface: resource.and_then(|r| r.network_interface_name.as_deref()),
        grace: launch.timeout + Duration::from_secs(30),
        stop_deadline: stop_deadline()?,
    };
    // What the workers download once for the host (`host_download`), removed when they are done.
    let host_scratch = std::env::temp_dir().join(format!("albert-ner-host-{}", std::process::id()));
    std::fs::create_dir_all(&host_scratch)
        .with_context(|| format!("creating {}", host_scratch.display()))?;
    let train_command = || {
        let mut c = Command::new(&exe);
        c.arg("train")
            .env(super::host_download::HOST_SCRATCH_ENV, &host_scratch);
        c
    };
    let finished = agent.run(train_command, stop);
    let _ = std::fs::remove_dir_all(&host_scratch);
    Ok(finished?)
}

/// For tests only: seconds the agent gives its workers to stop after SIGTERM before it kills them,
/// instead of [`ner_dist::STOP_DEADLINE`] (100 s), so that the kill of a worker that does not stop
/// can be tested in seconds. Jobs leave it unset.
pub const TEST_STOP_DEADLINE_ENV: &str = "ALBERT_NER_TEST_STOP_DEADLINE_SECONDS";

/// [`TEST_STOP_DEADLINE_ENV`] when set, else [`ner_dist::STOP_DEADLINE`].
fn stop_deadline() -> Result<Duration> {
    let Some(value) = std::env::var_os(TEST_STOP_DEADLINE_ENV) else {
        return Ok(ner_dist::STOP_DEADLINE);
    };
    let seconds = value
        .to_str()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .with_context(|| {
            format!("{TEST_STOP_DEADLINE_ENV}={value:?}: expected a whole number of seconds")
        })?;
    Ok(Duration::from_secs(seconds))
}

/// Trains as one rank of the group `env` names; a failure is left where the other ranks find it, and
/// no rank leaves before every rank is done (SageMaker, and Compose in local mode, end the job when
/// one host's container exits).
fn train_as_worker(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    device: tch::Device,
    env: &WorkerEnv,
    launch: &LaunchSettings,
    stop: &AtomicBool,
) -> Result<Finished> {
    let device = ner_dist::worker_device(device, env.local_rank)?;
    let group = ner_dist::join(env, device, launch)?;
    let finished = train(paths, hp, device, stop, Replicas::Group(&group, device)).map_err(|e| {
        match ner_dist::report_failure(&group, e.as_ref()) {
            Some(lost_peer) => lost_peer.into(),
            None => e,
        }
    });
    if finished.is_ok() {
        group.barrier().context("the final barrier")?;
    }
    finished
}

/// Trains as one process, or as one replica of a group; rank 0 alone writes.
fn train(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    device: tch::Device,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<Finished> {
    if hp.task == Task::Pretrain {
        return super::pretrain::run(paths, hp, device, stop, replicas);
    }
    let writes = replicas.rank() == 0;
    let JobStart {
        channels,
        scratch,
        source,
        precision,
        tokenizer,
        encoder,
    } = JobStart::prepare(paths, hp, device, writes)?;
    let Some(data) = data::load(hp, &channels, &tokenizer, stop)? else {
        info!("stopped by SIGTERM while reading the data: nothing to save yet");
        return Ok(Finished::Stopped);
    };
    let spec = TaggerSpec {
        encoder,
        labels: data.labels.labels().to_vec(),
        head: hp.head,
    };
    let (mut vs, tagger) =
        model_setup::build_tagger(hp, &spec, &source, &channels, &tokenizer, device)?;
    let windows = Windows {
        tokenizer: &tokenizer,
        labels: &data.labels,
        settings: &hp.model,
    };
    let train = windows.prepare(&data.train)?;
    let validation = windows.eval_set(data.validation)?;
    let cfg = TrainConfig {
        train: hp.train.clone(),
        bio_constraints: hp.model.bio_constraints,
        precision,
        device,
    };
    let outputs = match writes {
        true => results::train_outputs(paths, &source.vocab),
        false => TrainOutputs::nowhere(),
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
    let _ = std::fs::remove_dir_all(&scratch);
    let test = windows.eval_set(data.test)?;
    finish(
        paths,
        hp,
        &cfg,
        &spec,
        &data.labels,
        test,
        &summary,
        stop,
        replicas,
    )
}

/// How the job windows its sentences: the tokenizer, labels and window settings it trains with.
struct Windows<'a> {
    tokenizer: &'a Tokenizer,
    labels: &'a LabelSet,
    settings: &'a ModelSettings,
}

impl Windows<'_> {
    fn prepare(&self, sentences: &[Sentence]) -> Result<Prepared> {
        let s = self.settings;
        let (tokenizer, labels) = (self.tokenizer, self.labels);
        Ok(Prepared::new(
            sentences,
            tokenizer,
            labels,
            s.max_seq_length,
            s.window_stride,
        )?)
    }

    fn eval_set(&self, sentences: Option<Vec<Sentence>>) -> Result<Option<EvalSet>> {
        let Some(sentences) = sentences else {
            return Ok(None);
        };
        Ok(Some(EvalSet {
            prepared: self.prepare(&sentences)?,
            sentences,
        }))
    }
}

/// After training: the stop or the summary, the model proven complete, the test split scored on the
/// model as saved (so what is reported is what ships), and the job's record written.
#[allow(clippy::too_many_arguments)]
fn finish(
    paths: &SageMakerPaths,
    hp: &Hyperparameters,
    cfg: &TrainConfig,
    spec: &TaggerSpec,
    labels: &LabelSet,
    test: Option<EvalSet>,
    summary: &TrainSummary,
    stop: &AtomicBool,
    replicas: Replicas,
) -> Result<Finished> {
    if let Some(stopped) = results::stopped(&summary.outcome, summary.global_step) {
        return Ok(stopped);
    }
    results::log_summary(summary);
    let writes = replicas.rank() == 0;
    let model_dir = ModelDir::new(&paths.model_dir);
    // Never a success without a model: the trainer keeps one, and this proves it.
    if writes && !model_dir.holds_model() {
        bail!(
            "training ended without a complete model in {} ({}); this is a bug in albert-ner: the \
             checkpoints in {} are intact",
            paths.model_dir.display(),
            ModelDir::TAGGER_FILES.join(", "),
            paths.checkpoint_dir.display()
        );
    }
    let test = match test {
        Some(set) => {
            let (_vs, best) = saved_model(&model_dir, spec, cfg.device, replicas)?;
            let written = writes.then_some(paths);
            results::test(&best, labels, &set, cfg, summary, written, stop, replicas)?
        }
        None => None,
    };
    if writes {
        results::write_model_files(paths, hp, summary, test.as_ref())?;
        info!("model written to {}", paths.model_dir.display());
    }
    if stop.load(Ordering::SeqCst) {
        info!("stopped by SIGTERM after training: the test split was not scored");
        return Ok(Finished::Stopped);
    }
    Ok(Finished::Completed)
}

/// The model as saved, on every replica: rank 0 reads the model directory and shares its weights.
fn saved_model(
    model_dir: &ModelDir,
    spec: &TaggerSpec,
    device: tch::Device,
    replicas: Replicas,
) -> Result<(VarStore, NerTagger)> {
    let (vs, tagger) = if replicas.rank() == 0 {
        TrainedModel::load(model_dir, device, InferencePrecision::Fp32)?.into_tagger()
    } else {
        let vs = VarStore::new(device);
        let tagger = NerTagger::new(&vs.root(), spec);
        (vs, tagger)
    };
    replicas.broadcast_vars(&vs)?;
    Ok((vs, tagger))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_settings_are_the_hyperparameters_that_name_them() {
        let hp = Hyperparameters {
            distributed: Distributed::Off,
            processes_per_host: Some(3),
            master_port: 29500,
            distributed_timeout_seconds: 42.5,
            ..Hyperparameters::default()
        };
        let launch = launch_settings(&hp);
        assert_eq!(
            launch,
            LaunchSettings {
                distributed: false,
                processes_per_host: Some(3),
                master_port: 29500,
                timeout: Duration::from_secs_f64(42.5),
            }
        );
        assert!(launch_settings(&Hyperparameters::default()).distributed);
    }
}
