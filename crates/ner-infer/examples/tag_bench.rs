//! Times `TrainedModel::tag` on groups of consecutive lines, as the server's batches are formed, with and
//! without entity scores: `cargo run --release --example tag_bench -p ner-infer -- MODEL_DIR LINES_FILE [GROUP]`.

use std::time::Instant;

use ner_infer::{Batching, TrainedModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = TrainedModel::load(
        &ner_infer::ModelDir::new(&args[1]),
        tch::Device::Cpu,
        ner_infer::InferencePrecision::Auto,
    )
    .expect("model loads");
    let text = std::fs::read_to_string(&args[2]).expect("lines file");
    let lines: Vec<&str> = text.lines().collect();
    let group: usize = args.get(3).map_or(23, |g| g.parse().expect("group size"));
    let budget: usize = args
        .get(4)
        .map_or(4096, |b| b.parse().expect("token budget"));
    for scores in [false, true, false, true] {
        let started = Instant::now();
        for chunk in lines.chunks(group) {
            model
                .tag(chunk, Batching::Tokens(budget), scores, || true)
                .expect("tags");
        }
        let s = started.elapsed().as_secs_f64();
        println!(
            "scores={scores}: {} lines in groups of {group}: {:.2} s, {:.1} lines/s",
            lines.len(),
            s,
            lines.len() as f64 / s
        );
    }
}
