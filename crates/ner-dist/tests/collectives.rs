//! The process group over Gloo on loopback, its ranks threads of this one process, and the tests'
//! groups side by side in it: every collective gives the values torch.distributed would, and a missing
//! or lost peer fails within the timeout instead of hanging. `scripts/soak-collectives.sh` runs them
//! again and again.

use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ner_dist::{Backend, DistError, ProcessGroup, Rendezvous};
use tch::{Device, Kind, Tensor};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rendezvous(port: u16, rank: usize, world_size: usize, timeout: Duration) -> Rendezvous {
    Rendezvous {
        master_addr: "127.0.0.1".into(),
        master_port: port,
        rank,
        world_size,
        timeout,
    }
}

/// Runs `body` as every rank of a fresh group, one thread each; returns each rank's result.
fn with_group<T: Send + 'static>(
    world_size: usize,
    body: impl Fn(ProcessGroup) -> T + Send + Sync + Clone + 'static,
) -> Vec<T> {
    let port = free_port();
    let handles: Vec<_> = (0..world_size)
        .map(|rank| {
            let body = body.clone();
            thread::spawn(move || {
                let rdv = rendezvous(port, rank, world_size, Duration::from_secs(30));
                body(ProcessGroup::join(&rdv, Backend::Gloo).expect("join"))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[test]
fn all_reduce_broadcast_and_barrier_agree_across_ranks() {
    let results = with_group(2, |pg| {
        let r = pg.rank() as f64;
        let mut sum = Tensor::from_slice(&[1.0 + r as f32, 10.0 * r as f32]);
        pg.all_reduce_sum(&mut sum).unwrap();
        let mut max = Tensor::from_slice(&[r as i64, 5 - r as i64]);
        pg.all_reduce_max(&mut max).unwrap();
        let mut from_root = Tensor::from_slice(&[r + 7.0]);
        pg.broadcast(&mut from_root, 1).unwrap();
        pg.barrier().unwrap();
        // Several shapes and kinds at once, in buckets smaller than the set.
        let mut many = vec![
            Tensor::full([2, 3], 1.0 + r, (Kind::Float, Device::Cpu)),
            Tensor::full([4], r as i64, (Kind::Int64, Device::Cpu)),
            Tensor::full([5], 2.0 * r, (Kind::Float, Device::Cpu)),
        ];
        pg.all_reduce_sum_all(&mut many, 16).unwrap();
        (
            values(&sum),
            values(&max),
            values(&from_root),
            many.iter().map(values).collect::<Vec<_>>(),
        )
    });
    for (sum, max, root, many) in results {
        assert_eq!(sum, vec![3.0, 10.0]);
        assert_eq!(max, vec![1.0, 5.0]);
        assert_eq!(root, vec![8.0]);
        assert_eq!(many[0], vec![3.0; 6]);
        assert_eq!(many[1], vec![1.0; 4]);
        assert_eq!(many[2], vec![2.0; 5]);
    }
}

/// Groups of one process start collectives at the same moment, in rounds of new groups (each new to
/// libtorch's flight recorder, one per process): libtorch 2.11 updates its map of groups without a lock,
/// which crashed the tests now and then (SIGSEGV) until the shim serialised the start of Gloo
/// collectives (csrc/process_group.cpp, `gloo_start_mutex`; repro/flight_recorder_race.cpp).
#[test]
fn groups_of_one_process_start_collectives_at_once() {
    const GROUPS: usize = 4;
    for _round in 0..3 {
        let start = Arc::new(Barrier::new(GROUPS * 2));
        let groups: Vec<_> = (0..GROUPS)
            .map(|_| {
                let start = start.clone();
                thread::spawn(move || with_group(2, move |pg| sum_after_barriers(&pg, &start)))
            })
            .collect();
        for group in groups {
            assert_eq!(group.join().unwrap(), vec![vec![2.0; 4]; 2]);
        }
    }
}

/// Waits for every rank of every group at `start`, then runs a few barriers and an all-reduce.
fn sum_after_barriers(pg: &ProcessGroup, start: &Barrier) -> Vec<f64> {
    start.wait();
    for _ in 0..5 {
        pg.barrier().unwrap();
    }
    let mut t = Tensor::ones([4], (Kind::Float, Device::Cpu));
    pg.all_reduce_sum(&mut t).unwrap();
    values(&t)
}

#[test]
fn broadcast_all_copies_rank_zeros_tensors_in_place() {
    let results = with_group(2, |pg| {
        let r = pg.rank() as f64;
        let mut ts = vec![
            Tensor::full([3], r, (Kind::Float, Device::Cpu)),
            Tensor::full([2, 2], r + 1.0, (Kind::Float, Device::Cpu)),
        ];
        pg.broadcast_all(&mut ts, 0, ner_dist::DEFAULT_BUCKET_BYTES)
            .unwrap();
        ts.iter().map(values).collect::<Vec<_>>()
    });
    for r in results {
        assert_eq!(r, vec![vec![0.0; 3], vec![1.0; 4]]);
    }
}

#[test]
fn the_store_carries_messages_between_ranks() {
    let results = with_group(2, |pg| {
        if pg.rank() == 1 {
            pg.store_set("failed/1", "host-b: out of memory").unwrap();
        }
        pg.barrier().unwrap();
        (
            pg.store_get("failed/1").unwrap(),
            pg.store_get("failed/0").unwrap(),
        )
    });
    for (one, zero) in results {
        assert_eq!(one.as_deref(), Some("host-b: out of memory"));
        assert_eq!(zero, None);
    }
}

#[test]
fn a_rank_whose_heartbeat_stopped_is_named_and_a_live_one_is_not() {
    let port = free_port();
    let left = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|rank| {
            let left = Arc::clone(&left);
            thread::spawn(move || {
                let rdv = rendezvous(port, rank, 2, Duration::from_secs(30));
                let pg = ProcessGroup::join(&rdv, Backend::Gloo).expect("join");
                pg.barrier().unwrap();
                if rank == 1 {
                    // Alive while rank 0 watches, then gone (its heartbeat thread ends with the group).
                    thread::sleep(Duration::from_secs(5));
                    drop(pg);
                    left.wait();
                    return (Vec::new(), Vec::new());
                }
                let while_alive = pg.stalled_peers().unwrap();
                left.wait();
                (while_alive, pg.stalled_peers().unwrap())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (while_alive, after_leaving) = &results[0];
    assert_eq!(
        while_alive,
        &Vec::<usize>::new(),
        "rank 1's heartbeat advanced"
    );
    assert_eq!(after_leaving, &vec![1], "rank 1's heartbeat stopped");
}

#[test]
fn a_peer_that_never_joins_fails_the_join_within_the_timeout() {
    let port = free_port();
    let started = Instant::now();
    let err = ProcessGroup::join(
        &rendezvous(port, 0, 2, Duration::from_secs(3)),
        Backend::Gloo,
    )
    .err()
    .expect("rank 1 never came");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, DistError::Connect { rank: 0, .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_master_that_is_not_there_fails_naming_host_and_port() {
    let port = free_port();
    let started = Instant::now();
    let err = ProcessGroup::join(
        &rendezvous(port, 1, 2, Duration::from_secs(3)),
        Backend::Gloo,
    )
    .err()
    .expect("nobody serves the store");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_rank_that_leaves_makes_the_others_collective_fail_not_hang() {
    let started = Instant::now();
    let results = {
        let port = free_port();
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                thread::spawn(move || {
                    // Long enough to join beside the other tests' groups on a loaded machine (3 s
                    // timed out there once); the lost peer is noticed at once, not at the timeout.
                    let rdv = rendezvous(port, rank, 2, Duration::from_secs(10));
                    let pg = ProcessGroup::join(&rdv, Backend::Gloo).expect("join");
                    pg.barrier().unwrap();
                    if rank == 1 {
                        drop(pg); // leaves the group
                        return Ok(());
                    }
                    thread::sleep(Duration::from_millis(200));
                    let mut t = Tensor::ones([4], (Kind::Float, Device::Cpu));
                    pg.all_reduce_sum(&mut t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(results[0].is_err(), "rank 0's all-reduce had no partner");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// Where libtorch has CUDA, the NCCL backend is built, loads, and reaches libtorch's
/// ProcessGroupNCCL, which refuses a machine without GPUs with its own message. (`scripts/gpu-check.sh`
/// runs NCCL on a GPU.)
#[test]
fn the_nccl_backend_loads_and_reaches_process_group_nccl() {
    if tch::Cuda::is_available() {
        return;
    }
    ner_dist::load_nccl().expect("libner_dist_nccl.so is built where libtorch has CUDA, and loads");
    let err = ProcessGroup::join(
        &rendezvous(free_port(), 0, 1, Duration::from_secs(10)),
        Backend::Nccl,
    )
    .err()
    .expect("no GPU here");
    assert!(err.to_string().contains("GPU"), "{err}");
}
