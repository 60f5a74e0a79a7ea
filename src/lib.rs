//! The binaries' shared start-up and the jobs they run: `train` (a SageMaker training job) and
//! `predict` (tagging raw text with a trained model). The ML lives in the crates under `crates/`.

pub mod bench_cmd;
pub mod device;
pub mod logging;
pub mod memory_check;
pub mod predict_cmd;
pub mod train_job;
