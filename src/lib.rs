//! The binaries' shared start-up and the jobs they run: `train` (a SageMaker training job), `serve`
//! (the model server of an endpoint or batch transform) and `predict` (tagging raw text). The ML lives in the crates under `crates/`.

pub mod bench_cmd;
pub mod device;
pub mod logging;
pub mod memory_check;
pub mod predict_cmd;
pub mod serve_cmd;
pub mod tagging_model;
pub mod train_job;
