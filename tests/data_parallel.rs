//! Data-parallel `train` end to end on this CPU machine: worker processes joined by Gloo over
//! loopback, started by `train` itself (`processes_per_host`) or as two "hosts" with their own
//! `/opt/ml`. Each result is checked against the single-process run.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{assert_model, check, failed, failed_with_status, fast, stdout, Job};

/// A port nobody listens on now, as a hyperparameter value (leaked: the helpers take `'static`).
fn free_port() -> &'static str {
    Box::leak(common::free_port().to_string().into_boxed_str())
}

/// No dropout anywhere, a fixed seed and step count, no validation (none held out of training
/// either): the final weights are the model.
fn deterministic(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("validation_split", "0"),
        ("hidden_dropout_prob", "0"),
        ("attention_probs_dropout_prob", "0"),
        ("classifier_dropout_prob", "0"),
        ("num_train_epochs", "100"),
        ("max_steps", "20"),
        ("seed", "7"),
        ("learning_rate", "0.0003"),
        ("save_checkpoints_steps", "1000"),
    ];
    v.extend_from_slice(extra);
    fast(&v)
}

/// The model holds the weights of the run's last step, not a snapshot an evaluation kept earlier.
fn assert_final_weights(job: &Job, steps: u64) {
    let metrics: serde_json::Value = serde_json::from_str(&job.read("model/metrics.json")).unwrap();
    assert_eq!(metrics["global_step"], steps, "{metrics}");
    assert!(
        metrics["validation_history"]
            .as_array()
            .is_none_or(|h| h.is_empty()),
        "no evaluation chose the model: {metrics}"
    );
}

/// Starts `job` with stdout piped and reads it until a line contains `marker` (a thread drains the
/// rest, so the job never writes into a closed pipe); returns the lines read.
fn start_until(job: &Job, marker: &str) -> (Child, String) {
    start_until_with(job.command(), marker)
}

/// [`start_until`] for a command already set up.
fn start_until_with(mut command: std::process::Command, marker: &str) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            std::thread::spawn(move || lines.for_each(drop));
            return (child, seen);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("never saw {marker:?}:\n{seen}");
}

/// The pids of `parent`'s children whose environment says `RANK=rank`.
fn worker_pid(parent: u32, rank: usize) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let wanted = format!("RANK={rank}");
        if env.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_processes_of_batch_8_train_the_model_one_process_of_batch_16_does() {
    let one = Job::new(40, 0, 0);
    one.hyperparameters(&deterministic(&[("train_batch_size", "16")]));
    let o = one.train();
    check(&o, o.status.success(), "the single-process run");

    let two = Job::new(40, 0, 0);
    let port = free_port();
    two.hyperparameters(&deterministic(&[
        ("train_batch_size", "8"),
        ("processes_per_host", "2"),
        ("master_port", port),
    ]));
    let o = two.train();
    check(&o, o.status.success(), "the two-process run");
    assert_model(&two);
    assert_final_weights(&one, 20);
    assert_final_weights(&two, 20);
    let (diff, name) = common::max_weight_diff(&one, &two);
    assert!(diff < 1e-5, "{name} differs by {diff}");

    let log = stdout(&o);
    assert!(log.contains("world size 2"), "{log}");
    assert!(
        log.contains("global batch 16 (train_batch_size 8 per process × world size 2)"),
        "{log}"
    );
    let train_lines: Vec<&str> = log.lines().filter(|l| l.contains(" train: ")).collect();
    assert_eq!(
        train_lines.len(),
        20,
        "one train: line per step, from rank 0 only"
    );
    assert!(
        train_lines.iter().all(|l| l.starts_with("[rank 0] ")),
        "{log}"
    );
}

#[test]
fn processes_started_by_a_users_launcher_with_torchrun_variables_train_as_its_ranks() {
    let job = Job::new(30, 0, 0);
    job.hyperparameters(&deterministic(&[("max_steps", "4")]));
    let port = free_port();
    let ranks: Vec<Child> = (0..2)
        .map(|rank| {
            job.command()
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = ranks
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        check(o, o.status.success(), "both ranks finish");
    }
    assert_model(&job);
    let log = stdout(&outputs[0]);
    assert!(
        log.contains("[rank 0] ") && log.contains("world size 2"),
        "{log}"
    );
    assert!(
        !stdout(&outputs[1]).contains(" train: "),
        "rank 1 logs warnings only"
    );
}

#[test]
fn two_hosts_with_their_own_opt_ml_train_together() {
    let port = free_port();
    let hosts: Vec<Job> = (1..=2)
        .map(|i| {
            let job = Job::new(30, 6, 0);
            job.hyperparameters(&deterministic(&[
                ("master_port", port),
                ("max_steps", "6"),
                ("eval_steps", "3"),
            ]));
            job.write(
                "input/config/resourceconfig.json",
                &format!(
                    r#"{{"current_host": "algo-{i}", "hosts": ["algo-1", "algo-2"], "network_interface_name": "lo"}}"#
                ),
            );
            job
        })
        .collect();
    let children: Vec<Child> = hosts
        .iter()
        .map(|job| {
            job.command()
                .envs(LOOPBACK_HOSTS)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        check(o, o.status.success(), "both hosts finish");
    }
    assert_model(&hosts[0]);
    let second_model = hosts[1].base().join("model");
    let left = std::fs::read_dir(&second_model)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the second host leaves /opt/ml/model empty");
    let log = stdout(&outputs[0]);
    assert!(log.contains("host 1 of 2 (algo-1)"), "{log}");
    assert!(log.contains("world size 2"), "{log}");
    let metrics: serde_json::Value =
        serde_json::from_str(&hosts[0].read("model/metrics.json")).unwrap();
    assert_eq!(metrics["global_step"], 6);
    assert_eq!(metrics["validation_history"].as_array().unwrap().len(), 2);
}

#[test]
fn a_host_that_cannot_reach_the_master_fails_naming_it_and_the_port() {
    let job = Job::new(10, 0, 0);
    let port = free_port();
    job.hyperparameters(&deterministic(&[
        ("master_port", port),
        ("distributed_timeout_seconds", "3"),
    ]));
    job.write(
        "input/config/resourceconfig.json",
        r#"{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "lo"}"#,
    );
    let started = Instant::now();
    let o = job
        .command()
        .env("ALBERT_NER_HOST_ADDRESSES", "algo-1=127.0.0.1")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let cause = failed(&job, &o);
    assert!(
        cause.contains("rank 1")
            && cause.contains("algo-2")
            && cause.contains(&format!("127.0.0.1:{port}")),
        "{cause}"
    );
}

/// Two workers of a long job, past their second step, whose collectives give up after 5 s.
fn two_workers_training_with_a_5s_timeout() -> (Job, Child) {
    let job = Job::new(40, 0, 0);
    job.hyperparameters(&deterministic(&[
        ("processes_per_host", "2"),
        ("master_port", free_port()),
        ("max_steps", "100000"),
        ("distributed_timeout_seconds", "5"),
    ]));
    let (agent, _) = start_until(&job, " step=2/");
    (job, agent)
}

#[test]
fn a_killed_rank_fails_the_job_within_the_timeout_naming_it() {
    let (job, mut agent) = two_workers_training_with_a_5s_timeout();
    let victim = worker_pid(agent.id(), 1).expect("rank 1's process");
    let killed = Instant::now();
    unsafe {
        libc_kill(victim as i32, 9);
    }
    let status = wait_with_timeout(&mut agent, Duration::from_secs(90));
    assert!(!status.success());
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "{:?}",
        killed.elapsed()
    );
    let cause = failed_with_status(&job, status);
    assert!(
        cause.contains("rank 1") && cause.contains("SIGKILL"),
        "{cause}"
    );
    assert!(worker_pid(agent.id(), 0).is_none(), "rank 0 is gone too");
}

#[test]
fn sigterm_stops_every_rank_at_one_step_and_the_resumed_job_ends_as_an_uninterrupted_one() {
    let port = free_port();
    let settings = deterministic(&[
        ("processes_per_host", "2"),
        ("master_port", port),
        ("max_steps", "30"),
    ]);
    let uninterrupted = Job::new(40, 0, 0);
    uninterrupted.hyperparameters(&settings);
    let o = uninterrupted.train();
    check(&o, o.status.success(), "the uninterrupted run");

    let job = Job::new(40, 0, 0);
    job.hyperparameters(&settings);
    let (mut agent, _) = start_until(&job, " step=5/30 ");
    let signalled = Instant::now();
    unsafe {
        libc_kill(agent.id() as i32, 15);
    }
    let status = wait_with_timeout(&mut agent, Duration::from_secs(120));
    assert_eq!(status.code(), Some(143), "stopped, to be resumed");
    assert!(signalled.elapsed() < Duration::from_secs(60));
    let checkpoints: Vec<_> = std::fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .collect();
    assert_eq!(checkpoints.len(), 1, "rank 0 wrote one checkpoint");

    let o = job.train();
    check(&o, o.status.success(), "the resumed run");
    assert!(
        stdout(&o).contains("resuming from checkpoint"),
        "{}",
        stdout(&o)
    );
    assert_final_weights(&uninterrupted, 30);
    assert_final_weights(&job, 30);
    let (diff, name) = common::max_weight_diff(&uninterrupted, &job);
    assert!(diff < 1e-5, "{name} differs by {diff}");
}

#[test]
fn sigterm_to_one_worker_stops_every_rank_at_one_step() {
    let job = Job::new(40, 0, 0);
    let port = free_port();
    job.hyperparameters(&deterministic(&[
        ("processes_per_host", "2"),
        ("master_port", port),
        ("max_steps", "100000"),
    ]));
    let (mut agent, _) = start_until(&job, " step=3/");
    let worker = worker_pid(agent.id(), 1).expect("rank 1's process");
    unsafe {
        libc_kill(worker as i32, 15);
    }
    let status = wait_with_timeout(&mut agent, Duration::from_secs(120));
    assert_eq!(
        status.code(),
        Some(143),
        "every rank stopped, the job with them"
    );
    let checkpoints: Vec<String> = std::fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert_eq!(
        checkpoints.len(),
        1,
        "rank 0 wrote one checkpoint: {checkpoints:?}"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// A job (`job`'s command with `env`) that SIGTERM finds blocked on other processes, once its output
/// shows `marker`: it exits 143 within `within`, its failure file's first line saying what it waited for.
fn stopped_while_waiting(
    job: &Job,
    env: &[(&str, &str)],
    marker: &str,
    within: Duration,
) -> String {
    let mut command = job.command();
    command.envs(env.iter().copied());
    let (mut child, _) = start_until_with(command, marker);
    let signalled = Instant::now();
    unsafe {
        libc_kill(child.id() as i32, 15);
    }
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(143), "stopped, to be resumed");
    assert!(took < within, "exited {took:?} after SIGTERM");
    let failure = job.read("output/failure");
    let first = failure.lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("stopped by SIGTERM while waiting for"),
        "{first}"
    );
    first
}

/// Two hosts' resource config, this one being `current`.
fn two_hosts(job: &Job, current: &str, hosts: [&str; 2]) {
    job.write(
        "input/config/resourceconfig.json",
        &format!(
            r#"{{"current_host": "{current}", "hosts": ["{}", "{}"], "network_interface_name": "lo"}}"#,
            hosts[0], hosts[1]
        ),
    );
}

/// Where hosts `algo-1` and `algo-2` live in these tests: both on loopback.
const LOOPBACK_HOSTS: [(&str, &str); 1] = [(
    "ALBERT_NER_HOST_ADDRESSES",
    "algo-1=127.0.0.1,algo-2=127.0.0.1",
)];

/// The two hosts of one job on the same master port, `algo-1` first, each training 40 sentences with
/// `hyperparameters` (deterministic).
fn two_host_jobs(port: &'static str, hyperparameters: &[(&'static str, &'static str)]) -> Vec<Job> {
    (1..=2)
        .map(|i| {
            let job = Job::new(40, 0, 0);
            let mut hp = vec![("master_port", port)];
            hp.extend_from_slice(hyperparameters);
            job.hyperparameters(&deterministic(&hp));
            two_hosts(&job, &format!("algo-{i}"), ["algo-1", "algo-2"]);
            job
        })
        .collect()
}

#[test]
fn sigterm_while_the_master_host_does_not_resolve_stops_at_once() {
    let job = Job::new(10, 0, 0);
    job.hyperparameters(&deterministic(&[("master_port", free_port())]));
    two_hosts(&job, "algo-2", ["algo-1.invalid", "algo-2"]);
    let first = stopped_while_waiting(&job, &[], "does not resolve yet", Duration::from_secs(5));
    assert!(
        first.contains("rank 1 on host algo-2")
            && first.contains("waiting for the master host algo-1.invalid to resolve"),
        "{first}"
    );
}

#[test]
fn sigterm_while_the_master_never_answers_stops_at_once() {
    // A rank started by the user's launcher (torchrun's variables): no agent between it and the signal.
    let job = Job::new(10, 0, 0);
    job.hyperparameters(&deterministic(&[]));
    let port = free_port();
    let env = [
        ("RUST_LOG", "info"), // rank 1 logs warnings only by default
        ("RANK", "1"),
        ("LOCAL_RANK", "0"),
        ("WORLD_SIZE", "2"),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", port),
    ];
    let first = stopped_while_waiting(
        &job,
        &env,
        "joining the process group",
        Duration::from_secs(2),
    );
    assert!(
        first.contains(&format!(
            "waiting for the rendezvous with the master at 127.0.0.1:{port}"
        )),
        "{first}"
    );
}

#[test]
fn sigterm_while_the_other_hosts_never_join_stops_at_once() {
    let job = Job::new(10, 0, 0);
    let port = free_port();
    job.hyperparameters(&deterministic(&[("master_port", port)]));
    two_hosts(&job, "algo-1", ["algo-1", "algo-2"]);
    let first = stopped_while_waiting(
        &job,
        &LOOPBACK_HOSTS,
        "joining the process group",
        Duration::from_secs(2),
    );
    assert!(
        first.contains("rank 0 on host algo-1")
            && first.contains(&format!(
                "waiting for the other 1 ranks to join at 127.0.0.1:{port}"
            )),
        "{first}"
    );
}

#[test]
fn sigterm_while_a_peer_hangs_in_a_collective_stops_after_its_grace() {
    let port = free_port();
    let hosts = two_host_jobs(port, &[("max_steps", "100000")]);
    let addresses = LOOPBACK_HOSTS;
    let mut second = hosts[1].command();
    second
        .envs(addresses)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut second = second.spawn().unwrap();
    let mut first = hosts[0].command();
    first.envs(addresses);
    let (mut agent, _) = start_until_with(first, " step=2/");
    // The second host's worker hangs (as a process paused or stuck in a driver call would).
    let hung = worker_pid(second.id(), 1).expect("rank 1's process");
    unsafe {
        libc_kill(hung as i32, 19);
    }
    let signalled = Instant::now();
    unsafe {
        libc_kill(agent.id() as i32, 15);
    }
    let status = wait_with_timeout(&mut agent, Duration::from_secs(60));
    let took = signalled.elapsed();
    unsafe {
        libc_kill(hung as i32, 9);
    }
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(status.code(), Some(143), "stopped, to be resumed");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(30),
        "the collective's 15 s grace, then the exit: {took:?}"
    );
    let failure = hosts[0].read("output/failure");
    let first = failure.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "rank 0 on host algo-1: stopped by SIGTERM while waiting for the other ranks in"
        ),
        "{first}"
    );
}

/// A new job holding a copy of `job`'s `/opt/ml` (its checkpoints, channels and settings).
fn copy_of(job: &Job) -> Job {
    let copy = Job::new(0, 0, 0);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", job.base().display()))
        .arg(copy.base())
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

#[test]
fn a_job_stopped_on_two_processes_resumes_on_one_and_on_three_to_the_end() {
    let port = free_port();
    let job = Job::new(40, 0, 0);
    job.hyperparameters(&deterministic(&[
        ("processes_per_host", "2"),
        ("master_port", port),
        ("max_steps", "12"),
    ]));
    let (mut agent, _) = start_until(&job, " step=5/12 ");
    unsafe {
        libc_kill(agent.id() as i32, 15);
    }
    let status = wait_with_timeout(&mut agent, Duration::from_secs(120));
    assert_eq!(status.code(), Some(143), "stopped, to be resumed");
    for processes in ["1", "3"] {
        let resumed = copy_of(&job);
        resumed.hyperparameters(&deterministic(&[
            ("processes_per_host", processes),
            ("master_port", free_port()),
            ("max_steps", "12"),
        ]));
        let o = resumed.train();
        check(&o, o.status.success(), &format!("resumed on {processes}"));
        let log = stdout(&o);
        let stopped_at: usize = std::fs::read_dir(job.base().join("checkpoints"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("step-")?
                    .parse()
                    .ok()
            })
            .max()
            .expect("the stop's checkpoint");
        assert!(
            log.contains("resuming from checkpoint"),
            "{processes}: {log}"
        );
        if processes == "3" {
            assert!(log.contains("world size 3"), "{log}");
        } else {
            assert!(!log.contains("world size"), "one process: {log}");
        }
        // Nothing lost or repeated: the run trains exactly the steps after the checkpoint.
        let steps: Vec<&str> = log.lines().filter(|l| l.contains(" train: ")).collect();
        assert!(
            steps
                .first()
                .is_some_and(|l| l.contains(&format!(" step={}/12 ", stopped_at + 1))),
            "{processes} processes after step {stopped_at}:\n{log}"
        );
        assert_eq!(steps.len(), 12 - stopped_at, "{processes} processes");
        assert_final_weights(&resumed, 12);
        assert_model(&resumed);
    }
}

#[test]
fn a_hung_rank_fails_the_job_within_the_timeout_naming_it() {
    let (job, mut agent) = two_workers_training_with_a_5s_timeout();
    let hung = worker_pid(agent.id(), 1).expect("rank 1's process");
    let paused = Instant::now();
    unsafe {
        libc_kill(hung as i32, 19);
    }
    // The agent kills and reaps the hung worker itself.
    let status = wait_with_timeout(&mut agent, Duration::from_secs(120));
    let took = paused.elapsed();
    assert!(!status.success());
    let cause = failed_with_status(&job, status);
    assert!(
        cause.starts_with(
            "rank 1 (local rank 1) on host localhost failed: stopped answering (hung or paused)"
        ) && cause.contains("after rank 0 failed"),
        "{cause}"
    );
    // Rank 0's collective gives up after the 5 s timeout; the agent waits the timeout + 30 s for the
    // others to leave on their own before it kills the one that did not.
    assert!(took < Duration::from_secs(60), "{took:?}");
}

/// The processes a test started, killed when it ends however it ends: agents (`children`) and their
/// workers (`pids`, continued first in case the test paused them), so no worker is left behind.
struct Reaper {
    children: Vec<Child>,
    pids: Vec<u32>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.pids {
            unsafe {
                libc_kill(pid as i32, 18);
                libc_kill(pid as i32, 9);
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_rank_hung_on_another_host_is_named_by_rank_0_within_the_timeout() {
    let port = free_port();
    let timeout = Duration::from_secs(5);
    let hosts = two_host_jobs(
        port,
        &[
            ("max_steps", "100000"),
            ("distributed_timeout_seconds", "5"),
        ],
    );
    let addresses = LOOPBACK_HOSTS;
    let mut second = hosts[1].command();
    second
        .envs(addresses)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut reaper = Reaper {
        children: vec![second.spawn().unwrap()],
        pids: Vec::new(),
    };
    let mut first = hosts[0].command();
    first.envs(addresses);
    let (agent, _) = start_until_with(first, " step=2/");
    reaper.children.push(agent);
    let hung = worker_pid(reaper.children[0].id(), 1).expect("rank 1's process");
    reaper.pids.push(hung);
    reaper.pids.extend(worker_pid(reaper.children[1].id(), 0));
    let paused = Instant::now();
    unsafe {
        libc_kill(hung as i32, 19);
    }
    let status = wait_with_timeout(&mut reaper.children[1], Duration::from_secs(60));
    let took = paused.elapsed();
    assert!(!status.success());
    let cause = failed_with_status(&hosts[0], status);
    assert!(
        cause.starts_with(
            "rank 0 (local rank 0) on host algo-1 failed: rank 1 on host algo-2 stopped answering \
             (hung, paused or killed: its heartbeat stopped); rank 0 on host algo-1 saw: "
        ),
        "{cause}"
    );
    // Rank 0's collective gives up after the timeout, then it watches the heartbeats for 3 s.
    assert!(took < timeout + Duration::from_secs(12), "{took:?}");
}

#[test]
fn a_worker_that_does_not_stop_after_sigterm_is_killed_at_the_deadline_and_named() {
    let job = Job::new(40, 0, 0);
    job.hyperparameters(&deterministic(&[
        ("processes_per_host", "2"),
        ("master_port", free_port()),
        ("max_steps", "100000"),
        // Longer than the 15 s a worker blocked in a collective takes to stop by itself.
        ("distributed_timeout_seconds", "60"),
    ]));
    // Past the 15 s in which rank 0, blocked on the paused rank 1, stops by itself.
    let deadline = Duration::from_secs(35);
    let mut command = job.command();
    command.env("ALBERT_NER_TEST_STOP_DEADLINE_SECONDS", "35");
    let (agent, _) = start_until_with(command, " step=2/");
    let mut reaper = Reaper {
        children: vec![agent],
        pids: Vec::new(),
    };
    let paused = worker_pid(reaper.children[0].id(), 1).expect("rank 1's process");
    reaper.pids.push(paused);
    reaper.pids.extend(worker_pid(reaper.children[0].id(), 0));
    unsafe {
        libc_kill(paused as i32, 19);
    }
    let signalled = Instant::now();
    unsafe {
        libc_kill(reaper.children[0].id() as i32, 15);
    }
    let status = wait_with_timeout(&mut reaper.children[0], Duration::from_secs(90));
    let took = signalled.elapsed();
    assert!(
        !std::path::Path::new(&format!("/proc/{paused}")).exists(),
        "the paused worker was killed and reaped"
    );
    let cause = failed_with_status(&job, status);
    assert!(
        cause.starts_with("rank 1 (local rank 1) on host ")
            && cause.contains(
                " failed: did not stop within 35s of SIGTERM (hung, or paused with SIGSTOP); killed"
            ),
        "{cause}"
    );
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(10),
        "{took:?}"
    );
}

/// A moto S3 server on loopback (the repository's .venv has it), killed when dropped.
struct Moto {
    server: Child,
    port: u16,
}

impl Moto {
    fn start() -> Self {
        let path = std::path::Path::new(common::REPO).join(".venv/bin/moto_server");
        assert!(path.exists(), "no {} (make venv)", path.display());
        let port = common::free_port();
        let server = std::process::Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { server, port }
    }

    /// Fake credentials and this server as the endpoint, for a job's process.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    /// Uploads the files of `dir` under `s3://bucket/prefix/` (boto3, from moto's venv).
    fn upload(&self, dir: &std::path::Path, bucket: &str, prefix: &str) {
        let python = std::path::Path::new(common::REPO).join(".venv/bin/python3");
        let status = std::process::Command::new(python)
            .envs(self.env())
            .args([
                "-c",
                "import boto3, os, sys\n\
                 s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n\
                 s3.create_bucket(Bucket=sys.argv[2])\n\
                 for name in os.listdir(sys.argv[1]):\n    \
                     s3.upload_file(os.path.join(sys.argv[1], name), sys.argv[2], sys.argv[3] + name)\n",
            ])
            .arg(dir)
            .arg(bucket)
            .arg(prefix)
            .status()
            .unwrap();
        assert!(status.success(), "upload to moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn workers_on_one_host_download_pretrained_weights_once() {
    // Weights to start from: a short run's model, uploaded to S3.
    let first = Job::new(20, 0, 0);
    first.hyperparameters(&deterministic(&[("max_steps", "2")]));
    let o = first.train();
    check(&o, o.status.success(), "the run that makes the weights");
    let moto = Moto::start();
    moto.upload(&first.base().join("model"), "weights", "tiny/");

    let job = Job::new(40, 0, 0);
    job.hyperparameters(&deterministic(&[
        ("processes_per_host", "3"),
        ("master_port", free_port()),
        ("max_steps", "2"),
        ("pretrained_model_uri", "s3://weights/tiny/"),
    ]));
    let o = job
        .command()
        .envs(moto.env())
        .env("RUST_LOG", "info") // ranks other than 0 log warnings only by default
        .output()
        .unwrap();
    check(&o, o.status.success(), "three workers from S3 weights");
    let log = stdout(&o);
    let downloads = log
        .matches("downloading pretrained weights from s3://weights/tiny/")
        .count();
    let reused = log
        .matches("already downloaded on this host by another worker")
        .count();
    assert_eq!((downloads, reused), (1, 2), "{log}");
    assert_model(&job);
}
