//! `predict`: tags raw text with a trained model directory.

use clap::Parser;

fn main() -> std::process::ExitCode {
    albert_ner::logging::init_stderr();
    let args = albert_ner::predict_cmd::Args::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match albert_ner::predict_cmd::run(&args, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
