//! The binaries' shared start-up and the jobs they run: `train` (a SageMaker training job), `serve`
//! (the model server of an endpoint or batch transform), `predict` (tagging raw text) and `export` (the network as
//! TorchScript or ONNX for other runtimes). The ML lives in the crates under `crates/`.

pub mod bench_cmd;
pub mod device;
pub mod export_cmd;
pub mod logging;
pub mod memory_check;
pub mod predict_cmd;
pub mod serve_cmd;
pub mod tagging_model;
pub mod train_job;
