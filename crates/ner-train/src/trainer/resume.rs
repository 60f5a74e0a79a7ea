//! Continuing from the newest loadable checkpoint, with the best model it recorded.

use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tracing::{info, warn};

use super::plan::Plan;
use super::TrainOutputs;
use crate::adamw::AdamW;
use crate::checkpoint::{self, Progress};
use crate::error::TrainError;

/// Loads the newest loadable checkpoint into `vs` and `opt`, restoring the best model beside it;
/// returns where training stands and the checkpoint it came from (a fresh start without one).
pub(super) fn from_checkpoints(
    out: &TrainOutputs,
    vs: &mut VarStore,
    opt: &mut AdamW,
    plan: &Plan,
) -> Result<(Progress, Option<PathBuf>), TrainError> {
    let Some(dir) = &out.checkpoint_dir else {
        return Ok((Progress::fresh(), None));
    };
    let Some((mut progress, path)) = checkpoint::resume_newest(dir, vs, opt)? else {
        return Ok((Progress::fresh(), None));
    };
    info!(
        "resuming from checkpoint {} (step {}, epoch {}, batch {} of {})",
        path.display(),
        progress.global_step,
        progress.epoch + 1,
        progress.batch_in_epoch,
        plan.batches_per_epoch
    );
    if let Some(model_dir) = &out.model_dir {
        log_recovery(
            checkpoint::recover_best(dir, model_dir, &mut progress)?,
            dir,
        );
    }
    restart_epoch_if_world_changed(&mut progress, plan.world_size);
    Ok((progress, Some(path)))
}

/// A checkpoint from another number of replicas counted batches of another global size, whose order
/// differs: its place in the epoch means nothing here, so the epoch starts again (the step count,
/// schedule and best model carry on).
fn restart_epoch_if_world_changed(progress: &mut Progress, world_size: usize) {
    let saved = progress.world_size.max(1);
    if saved != world_size && progress.batch_in_epoch > 0 {
        warn!(
            "the checkpoint was written by {saved} processes and this job runs {world_size}: the global \
             batch differs, so epoch {} restarts from its first batch (the {} batches done in it are \
             seen again); step {} and the learning-rate schedule continue",
            progress.epoch + 1,
            progress.batch_in_epoch,
            progress.global_step
        );
        progress.batch_in_epoch = 0;
    }
}

fn log_recovery(recovery: checkpoint::BestRecovery, dir: &Path) {
    use checkpoint::BestRecovery::*;
    match recovery {
        NoneYet => {}
        Restored { step } => info!(
            "best model so far (step {step}) restored from {}",
            dir.join(checkpoint::BEST_DIR).display()
        ),
        KeptInPlace { step } => {
            info!("best model so far (step {step}) kept in the model directory")
        }
        Lost { step } => warn!(
            "the best model so far (step {step}) is neither in {} nor in the model directory: \
             the next evaluation's model will be kept",
            dir.join(checkpoint::BEST_DIR).display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_world_size_restarts_the_epoch_and_keeps_the_step() {
        let mut p = Progress {
            global_step: 12,
            epoch: 2,
            batch_in_epoch: 5,
            world_size: 2,
            ..Progress::default()
        };
        restart_epoch_if_world_changed(&mut p, 2);
        assert_eq!(p.batch_in_epoch, 5);
        restart_epoch_if_world_changed(&mut p, 4);
        assert_eq!((p.global_step, p.epoch, p.batch_in_epoch), (12, 2, 0));
        // Checkpoints from before data parallelism were written by one process.
        let mut old = Progress {
            batch_in_epoch: 3,
            ..Progress::default()
        };
        restart_epoch_if_world_changed(&mut old, 1);
        assert_eq!(old.batch_in_epoch, 3);
    }
}
