//! A SageMaker training job: read the `/opt/ml` contract, fine-tune (or, with `task=pretrain`,
//! pre-train), write the model and results, and on failure write the cause to `output/failure`.

mod data;
mod disk_plan;
mod host_download;
mod model_setup;
mod pretrain;
mod results;
mod run;
mod supervise;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ner_dist::{Finished, EXIT_STOPPED, WORKER_FAILURE_FILE_ENV};
use sagemaker_contract::{write_failure, FailureReport, SageMakerPaths};

pub use run::run;

/// Entry point of the `train` binary: runs the job and turns every failure into a failure file and a
/// non-zero exit. `args` are the process arguments after the program name.
pub fn main(args: &[String]) -> ExitCode {
    crate::logging::init();
    // SageMaker runs `docker run IMAGE train`; SDK 3.x runs the image with no arguments.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .skip_while(|a| *a == "train")
        .collect();
    if let Some(first) = args.first() {
        if *first == "--help" || *first == "-h" {
            println!("{}", HELP);
            return ExitCode::SUCCESS;
        }
        eprintln!("train: unexpected argument {first:?}; settings come from hyperparameters.json\n\n{HELP}");
        return ExitCode::from(2);
    }
    let paths = match SageMakerPaths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            tracing::warn!("cannot watch signal {signal}: {e}");
        }
    }
    let waiting_paths = paths.clone();
    ner_dist::watch_stop(Arc::clone(&stop), move |what| {
        stopped_while_waiting(&waiting_paths, what)
    });
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error (a bug in albert-ner): {info}");
        eprintln!("{}", std::backtrace::Backtrace::force_capture());
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&paths, &stop)));
    let failure = match outcome {
        Ok(Ok(Finished::Completed)) => return ExitCode::SUCCESS,
        Ok(Ok(Finished::Stopped)) => return ExitCode::from(EXIT_STOPPED),
        Ok(Err(err)) => {
            let report = FailureReport::from_chain(err.chain());
            if is_stop(&err) {
                tracing::info!("{}", report.cause());
                leave_failure(&paths, &report.to_string());
                return ExitCode::from(EXIT_STOPPED);
            }
            tracing::error!("training failed: {}", report.cause());
            for (i, cause) in err.chain().enumerate().skip(1) {
                tracing::error!("  caused by ({i}): {cause}");
            }
            report.to_string()
        }
        Err(_) => "internal error: the training process crashed (a bug in albert-ner, not in your data or \
                   settings); the stack trace is in the job's log"
            .to_string(),
    };
    leave_failure(&paths, &failure);
    ExitCode::FAILURE
}

/// A stop request rather than a fault: a worker stopped while waiting on the others.
fn is_stop(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<ner_dist::DistError>()
            .is_some_and(|d| d.is_stop())
    })
}

/// Writes `failure` where SageMaker reads the reason, after the logs are flushed (CloudWatch has the
/// details first). A worker tells its agent instead, which writes the job's failure file naming the rank.
fn leave_failure(paths: &SageMakerPaths, failure: &str) {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let written = match std::env::var_os(WORKER_FAILURE_FILE_ENV) {
        Some(report) => std::fs::write(&report, failure).map_err(|e| e.to_string()),
        None => write_failure(paths, failure)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        eprintln!("error: could not write the failure file: {e}");
    }
}

/// Ends a process that SIGTERM found blocked on other processes (resolving the master, the rendezvous,
/// peers, a collective: see `ner_dist::watch_stop`), where the training loop cannot see the stop. Exits
/// at once with 143: libtorch's threads are mid-wait, so no destructor may run.
fn stopped_while_waiting(paths: &SageMakerPaths, what: &str) {
    let stopped = ner_dist::DistError::StoppedWaiting { what: what.into() };
    tracing::info!("{stopped}");
    leave_failure(paths, &stopped.to_string());
    // SAFETY: _exit(2) ends the process without running destructors or atexit handlers.
    unsafe { libc::_exit(i32::from(EXIT_STOPPED)) }
}

const HELP: &str = "\
train — fine-tunes ALBERT+CRF for Chinese NER as a SageMaker training job (with task=pretrain,
continues the encoder's masked-language-model pre-training on the training channel's raw text).

Usage: train [train]

Everything comes from the SageMaker layout under $SAGEMAKER_BASE_DIR (default /opt/ml):
  input/config/hyperparameters.json   settings (every value a string; see README)
  input/data/training|validation|test  data channels; input/data/pretrained: weights (optional)
  model/                               the trained model (model.safetensors, config.json, vocab.txt, ...)
  output/data/                         evaluation results and test predictions
  output/failure                       the reason, when the job fails
  checkpoints/                         resumable checkpoints (spot instances)";
