//! `serve`: the SageMaker model server for endpoints and batch transform.

use clap::Parser;

fn main() -> std::process::ExitCode {
    albert_ner::logging::init();
    let args = albert_ner::serve_cmd::Args::parse();
    match albert_ner::serve_cmd::run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
