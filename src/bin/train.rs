//! `train`: the SageMaker training entry point (`docker run IMAGE train`).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    albert_ner::train_job::main(&args)
}
