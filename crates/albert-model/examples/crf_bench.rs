//! Times `Crf::decode` (Viterbi; on CPU the host loop, and the batched tensor version for comparison)
//! on CPU at the shapes training evaluates with: B = 16 and 64
//! sequences of L = 126 tag positions over K = 7 tags, with ragged lengths. Prints the median of the
//! repeats in milliseconds; `fixtures/crf/bench_pytorch_crf.py` prints pytorch-crf's figures for the
//! same shapes, so the two can be compared.
//!
//! `cargo run --release -p albert-model --example crf_bench [-- REPEATS]` (threads: `CRF_BENCH_THREADS`,
//! default 2 to match the Python peer).

use std::time::Instant;

use albert_model::{Crf, TransitionConstraints, ViterbiBackend};
use tch::{nn, Device, Kind, Tensor};

const SEQ_LEN: i64 = 126;
const NUM_TAGS: i64 = 7;

fn median_ms(repeats: usize, mut run: impl FnMut()) -> f64 {
    run(); // warm-up: first-call allocations and lazy initialisation are not what we measure
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("REPEATS is a positive integer"))
        .unwrap_or(50);
    let threads: i32 = std::env::var("CRF_BENCH_THREADS")
        .ok()
        .map(|s| s.parse().expect("CRF_BENCH_THREADS is an integer"))
        .unwrap_or(2);
    tch::set_num_threads(threads);
    tch::manual_seed(0);

    let vs = nn::VarStore::new(Device::Cpu);
    let crf = Crf::new(&(vs.root() / "crf"), NUM_TAGS);
    let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bio = TransitionConstraints::bio(&labels);

    println!(
        "crf_bench: CPU, {threads} threads, K={NUM_TAGS}, L={SEQ_LEN}, median of {repeats} runs"
    );
    for batch in [16i64, 64] {
        let emissions = Tensor::randn([batch, SEQ_LEN, NUM_TAGS], (Kind::Float, Device::Cpu));
        // Ragged lengths between L/2 and L, the longest row filling the batch.
        let lengths: Vec<i64> = (0..batch)
            .map(|b| {
                if b == 0 {
                    SEQ_LEN
                } else {
                    SEQ_LEN / 2 + (b * 53) % (SEQ_LEN / 2)
                }
            })
            .collect();
        let mask = Tensor::arange(SEQ_LEN, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .lt_tensor(&Tensor::from_slice(&lengths).unsqueeze(1));

        let plain = median_ms(repeats, || {
            std::hint::black_box(crf.decode(&emissions, &mask, None));
        });
        let constrained = median_ms(repeats, || {
            std::hint::black_box(crf.decode(&emissions, &mask, Some(&bio)));
        });
        let tensor_ops = median_ms(repeats, || {
            std::hint::black_box(crf.decode_with(
                &emissions,
                &mask,
                None,
                ViterbiBackend::TensorOps,
            ));
        });
        assert_eq!(
            crf.decode_with(&emissions, &mask, None, ViterbiBackend::TensorOps),
            crf.decode(&emissions, &mask, None)
        );
        let tags = Tensor::randint(NUM_TAGS, [batch, SEQ_LEN], (Kind::Int64, Device::Cpu));
        let emissions_grad = emissions.set_requires_grad(true);
        let loss = median_ms(repeats, || {
            let nll = crf.nll(&emissions_grad, &tags, &mask);
            nll.backward();
        });
        println!(
            "B={batch:3}  decode {plain:8.3} ms   decode+BIO {constrained:8.3} ms   \
             decode(TensorOps) {tensor_ops:8.3} ms   nll fwd+bwd {loss:8.3} ms"
        );
    }
}
