//! All-reduce bandwidth of our c10d process group over Gloo on loopback, for `scripts/bench_dp.py`:
//! `allreduce_bench RANK WORLD PORT BYTES REPS` in each of WORLD processes; rank 0 prints one JSON line
//! with the median seconds per all-reduce of a float32 tensor of BYTES bytes.

use std::time::{Duration, Instant};

use ner_dist::{Backend, ProcessGroup, Rendezvous};
use tch::{Device, Kind, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rank, world, port, bytes, reps] = args.as_slice() else {
        eprintln!("usage: allreduce_bench RANK WORLD PORT BYTES REPS");
        std::process::exit(2);
    };
    let (rank, world): (usize, usize) = (rank.parse().unwrap(), world.parse().unwrap());
    let (bytes, reps): (i64, usize) = (bytes.parse().unwrap(), reps.parse().unwrap());
    let rdv = Rendezvous {
        master_addr: "127.0.0.1".into(),
        master_port: port.parse().unwrap(),
        rank,
        world_size: world,
        timeout: Duration::from_secs(60),
    };
    let group = ProcessGroup::join(&rdv, Backend::Gloo).expect("join");
    let mut t = Tensor::ones([bytes / 4], (Kind::Float, Device::Cpu));
    group.all_reduce_sum(&mut t).unwrap(); // warm-up: connections
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        group.barrier().unwrap();
        let started = Instant::now();
        group.all_reduce_sum(&mut t).unwrap();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    if rank == 0 {
        println!(
            "{{\"impl\": \"ner-dist\", \"bytes\": {bytes}, \"median_s\": {}}}",
            times[times.len() / 2]
        );
    }
}
