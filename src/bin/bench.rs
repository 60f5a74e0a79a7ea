//! `bench`: prints one JSON line of throughput and memory figures (see `scripts/bench.sh`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = albert_ner::bench_cmd::Args::parse();
    match albert_ner::bench_cmd::run(&args) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
