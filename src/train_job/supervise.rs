//! A job that trains in one process runs it as a child of this one, so that a death the process
//! cannot report itself (the kernel's out-of-memory killer sends SIGKILL) still ends with a failure
//! file naming the likely cause, the batch and the memory limit, as the agent of a data-parallel job
//! already does for its workers.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ner_dist::{Finished, EXIT_STOPPED, WORKER_FAILURE_FILE_ENV};
use sagemaker_contract::Hyperparameters;

/// True in the supervised child (and in an agent's workers): the process that trains.
pub fn is_supervised() -> bool {
    std::env::var_os(WORKER_FAILURE_FILE_ENV).is_some()
}

/// Runs this binary again as the training process and waits, passing SIGTERM on; its failure report,
/// or how it died, is this job's failure.
pub fn train_in_child(hp: &Hyperparameters, stop: &AtomicBool) -> Result<Finished> {
    let report = std::env::temp_dir().join(format!("albert-ner-{}.failure", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let exe = std::env::current_exe()
        .context("locating the train binary to start the training process")?;
    let memory = crate::memory_check::available_memory_note();
    let mut child = Command::new(exe)
        .arg("train")
        .env(WORKER_FAILURE_FILE_ENV, &report)
        .spawn()
        .context("starting the training process")?;
    let mut forwarded = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .context("waiting for the training process")?
        {
            break status;
        }
        if stop.load(Ordering::SeqCst) && !forwarded {
            // SAFETY: kill(2) on a child this process started and has not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            forwarded = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let reason = std::fs::read_to_string(&report)
        .ok()
        .filter(|r| !r.trim().is_empty());
    let _ = std::fs::remove_file(&report);
    outcome(status, reason, hp, memory.as_deref())
}

fn outcome(
    status: ExitStatus,
    reason: Option<String>,
    hp: &Hyperparameters,
    memory: Option<&str>,
) -> Result<Finished> {
    match (status.code(), status.signal(), reason) {
        (Some(0), _, _) => Ok(Finished::Completed),
        (Some(code), _, None) if code == i32::from(EXIT_STOPPED) => Ok(Finished::Stopped),
        (_, _, Some(reason)) => bail!("{}", reason.trim()),
        (_, Some(libc::SIGKILL), None) => bail!(
            "the training process was killed by SIGKILL, most likely by the kernel's out-of-memory \
             killer: train_batch_size={} × max_seq_length={}{}; lower train_batch_size (raise \
             gradient_accumulation_steps to keep the effective batch) or max_seq_length, or use an \
             instance with more memory",
            hp.train.train_batch_size,
            hp.model.max_seq_length,
            memory.map(|m| format!(" with {m}")).unwrap_or_default()
        ),
        (_, Some(signal), None) => bail!("the training process was killed by signal {signal}"),
        (code, None, None) => bail!(
            "the training process exited with status {} without a reason (see the job's log)",
            code.unwrap_or(-1)
        ),
    }
}
