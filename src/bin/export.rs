//! `export`: writes a trained model's network as TorchScript or ONNX, with how to decode it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    albert_ner::logging::init_stderr();
    let args = albert_ner::export_cmd::Args::parse();
    match albert_ner::export_cmd::run(&args) {
        Ok(network) => {
            println!("{}", network.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
