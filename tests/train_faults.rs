//! `train` against the faults a hostile user (or a spot market) finds: restarts on a new instance,
//! unwritable outputs, crashed writes. Each test failed before its fix.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_model, check, failed, failed_with_status, fast, stdout, Job};

/// Checkpoints every 2 steps (all kept), evaluation every 2 steps.
fn checkpointed(n_test: usize) -> Job {
    let job = Job::new(24, 8, n_test);
    job.hyperparameters(&fast(&[
        ("num_train_epochs", "2"),
        ("train_batch_size", "4"),
        ("eval_steps", "2"),
        ("save_checkpoints_steps", "2"),
        ("keep_checkpoints", "100"),
    ]));
    job
}

fn newest_checkpoint(job: &Job) -> std::path::PathBuf {
    let mut steps: Vec<_> = fs::read_dir(job.base().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
        })
        .collect();
    steps.sort();
    steps.pop().expect("a checkpoint")
}

/// What a new spot instance sees: the checkpoint directory restored from S3, everything else empty;
/// the newest checkpoint names a best model (step `best_step`, F1 1.0) that no later evaluation beats.
fn move_to_a_new_instance(job: &Job, best_step: usize) {
    for dir in ["model", "output"] {
        fs::remove_dir_all(job.base().join(dir)).unwrap();
    }
    let state = newest_checkpoint(job).join("state.json");
    let mut progress: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&state).unwrap()).unwrap();
    progress["best_f1"] = 1.0.into();
    progress["best_step"] = best_step.into();
    fs::write(&state, progress.to_string()).unwrap();
}

fn kept_best_step(job: &Job) -> usize {
    let meta: serde_json::Value =
        serde_json::from_str(&job.read("checkpoints/best-model/best.json")).unwrap();
    meta["step"].as_u64().unwrap() as usize
}

#[test]
fn a_spot_restart_on_a_new_instance_keeps_the_best_model() {
    for n_test in [8, 0] {
        let job = checkpointed(n_test);
        let o = job.train();
        check(&o, o.status.success(), "the first run finishes");
        assert!(
            job.base().join("checkpoints/best-model").is_dir(),
            "the best model is kept among the checkpoints"
        );
        let best_step = kept_best_step(&job);
        let best_weights =
            fs::read(job.base().join("checkpoints/best-model/model.safetensors")).unwrap();
        assert_eq!(
            best_weights,
            fs::read(job.base().join("model/model.safetensors")).unwrap(),
            "the kept copy is the model the job wrote"
        );
        move_to_a_new_instance(&job, best_step);

        let o = job.train();
        check(
            &o,
            o.status.success(),
            "the restart on a new instance finishes",
        );
        let out = stdout(&o);
        assert!(out.contains("resuming from checkpoint"), "{out}");
        assert!(
            out.contains(&format!("best model so far (step {best_step}) restored")),
            "{out}"
        );
        assert_model(&job);
        assert_eq!(
            fs::read(job.base().join("model/model.safetensors")).unwrap(),
            best_weights,
            "the model shipped is the best one (test channel: {n_test} sentences)"
        );
        if n_test > 0 {
            assert!(job.exists("output/data/test_results.json"));
        }
    }
}

#[test]
fn checkpoints_without_a_copy_of_the_best_model_still_end_with_one() {
    // Checkpoints written before the best model was kept with them.
    let job = checkpointed(8);
    let o = job.train();
    check(&o, o.status.success(), "the first run finishes");
    let best_step = kept_best_step(&job);
    fs::remove_dir_all(job.base().join("checkpoints/best-model")).unwrap();
    move_to_a_new_instance(&job, best_step);

    let o = job.train();
    check(&o, o.status.success(), "the restart finishes with a model");
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "the best model so far (step {best_step}) is neither"
        )),
        "the log says the best model was lost: {out}"
    );
    assert_model(&job);
    assert!(job.exists("output/data/test_results.json"));
}

#[test]
fn half_written_files_of_a_crashed_run_are_removed_at_start() {
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[]));
    job.write("model/.model.safetensors.tmp", "half a model");
    job.write("output/data/.test_results.json.tmp", "{");
    job.write(
        "checkpoints/.tmp-step-000000004-4242/model.safetensors",
        "half",
    );
    job.write("checkpoints/.tmp-best-model-4242/model.safetensors", "half");
    let o = job.train();
    check(&o, o.status.success(), "the job runs");
    for left in [
        "model/.model.safetensors.tmp",
        "output/data/.test_results.json.tmp",
        "checkpoints/.tmp-step-000000004-4242",
        "checkpoints/.tmp-best-model-4242",
    ] {
        assert!(!job.exists(left), "{left} is still there");
    }
    assert_model(&job);
}

#[test]
fn an_unwritable_model_directory_fails_before_training() {
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[]));
    // procfs refuses to create files even for root, which chmod cannot make a directory do.
    fs::create_dir_all(job.base()).unwrap();
    std::os::unix::fs::symlink(Path::new("/proc/1/fdinfo"), job.base().join("model")).unwrap();
    let o = job.train();
    let cause = failed(&job, &o);
    let model = job.base().join("model");
    assert!(
        cause.contains(&model.display().to_string()) && cause.contains("cannot write to"),
        "the first line names the directory and the cause: {cause}"
    );
    assert!(
        !stdout(&o).contains("train: epoch="),
        "found before training: {}",
        stdout(&o)
    );
}

#[test]
fn an_os_error_names_its_path_on_the_failure_files_first_line() {
    // Results cannot be renamed into place: the OS message alone ("Is a directory") names nothing.
    let job = Job::new(12, 4, 4);
    job.hyperparameters(&fast(&[]));
    fs::create_dir_all(job.base().join("output/data/test_predictions.txt/x")).unwrap();
    let o = job.train();
    let cause = failed(&job, &o);
    let target = job.base().join("output/data/test_predictions.txt");
    assert!(
        cause.contains(&target.display().to_string()) && cause.contains("os error"),
        "path and cause on the first line: {cause}"
    );
    // The model was written before the results: it is still there.
    for f in ["model.safetensors", "config.json", "vocab.txt"] {
        assert!(job.exists(&format!("model/{f}")), "model/{f} missing");
    }
}

#[test]
fn a_config_too_large_for_memory_is_refused_before_allocating() {
    let job = Job::new(12, 4, 0);
    let huge = common::MICRO_CONFIG.replace("\"hidden_size\": 64", "\"hidden_size\": 1200000");
    fs::write(job.workdir().join("huge.json"), huge).unwrap();
    job.hyperparameters(&fast(&[("bert_config_file", "huge.json")]));
    let o = job.train();
    let cause = failed(&job, &o);
    assert!(
        cause.contains("too large for this machine") && cause.contains("hidden_size=1200000"),
        "the cause names the sizes: {cause}"
    );
}

#[test]
fn sigterm_while_reading_data_exits_143_before_training() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // One log line per file read. The test stops reading the job's output at the first one, so the
    // training process blocks on its full stdout pipe (64 KiB, a few hundred lines) well before the last
    // file: the signal lands mid-way whatever the machine's speed.
    let files = 5_000;
    let job = Job::new(0, 0, 0);
    let sentence = "张 B-PER\n三 I-PER\n在 O\n北 B-LOC\n京 I-LOC\n";
    for i in 0..files {
        job.write(&format!("input/data/training/part-{i:05}.txt"), sentence);
    }
    job.hyperparameters(&fast(&[]));
    let mut child = job
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let first_file = line.contains(" read ") && line.contains("part-");
        log.push(line);
        if first_file {
            break;
        }
    }
    // SageMaker signals the job's first process, which passes it on to the training process; that one
    // is signalled too, so that it sees the stop while still blocked on the pipe, not after the
    // parent's next look at its flag.
    let trainer = child_of(child.id()).expect("the training process");
    unsafe {
        kill(trainer as i32, 15);
        kill(child.id() as i32, 15);
    }
    log.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let read = log.iter().filter(|l| l.contains(" read ")).count();
    let log = log.join("\n");
    assert_eq!(status.code(), Some(143), "{log}");
    assert!(
        log.contains("stopped by SIGTERM while reading the data"),
        "{log}"
    );
    assert!(read < files, "stopped before the last file: read {read}");
    assert!(!log.contains(" train: "), "no training started: {log}");
    assert!(!job.exists("output/failure"), "a stop is not a failure");
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// What a case is called, how it spoils a job, and what the failure's first line must say.
type RefusedInput = (&'static str, fn(&Job), &'static [&'static str]);

/// Each newly refused input, given as a user would give it: the job fails and the failure file's
/// first line names the cause and the file, key or value.
#[test]
fn each_newly_refused_input_fails_with_its_cause_first() {
    let cases: [RefusedInput; 7] = [
        (
            "a current_host outside hosts",
            |job| {
                job.write(
                    "input/config/resourceconfig.json",
                    r#"{"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}"#,
                )
            },
            &["resourceconfig.json", "\"algo-3\""],
        ),
        (
            "a directory named train.txt",
            |job| {
                fs::remove_file(job.base().join("input/data/training/train.txt")).unwrap();
                job.write("input/data/training/train.txt/part-0.txt", "张 B-PER\n");
            },
            &["training/train.txt is a directory"],
        ),
        (
            "a hyperparameter given twice",
            |job| {
                job.write(
                    "input/config/hyperparameters.json",
                    r#"{"bert_config_file": "micro.json", "seed": "1", "seed": "2"}"#,
                )
            },
            &["hyperparameters.json", "`seed` is given twice"],
        ),
        (
            "1e30 epochs",
            |job| job.hyperparameters(&fast(&[("num_train_epochs", "1e30")])),
            &["num_train_epochs", "1e30"],
        ),
        (
            "a tab where the token should be",
            |job| job.write("input/data/training/train.txt", "张 B-PER\n\t\tO\n"),
            &["train.txt:2:", "starts with a tab"],
        ),
        (
            "a file name holding a line break",
            |job| {
                job.write(
                    "input/data/training/train.bad\nname.txt",
                    "张 B-PER\n\t\tO\n",
                )
            },
            &["train.bad\\nname.txt:2:", "starts with a tab"],
        ),
        (
            "a NUL inside a token",
            |job| job.write("input/data/training/train.txt", "张 B-PER\na\0b O\n"),
            &["train.txt:2:", "control character U+0000"],
        ),
    ];
    for (what, make_bad, says) in cases {
        let job = Job::new(8, 4, 0);
        job.hyperparameters(&fast(&[]));
        make_bad(&job);
        let cause = failed(&job, &job.train());
        for s in says {
            assert!(cause.contains(s), "{what}: {s:?} not in {cause:?}");
        }
    }
    // Channels deeper than any real one (a symlink chain, most likely).
    let job = Job::new(0, 0, 0);
    job.hyperparameters(&fast(&[]));
    let deep = (0..=sagemaker_contract::MAX_CHANNEL_DEPTH + 1)
        .fold("input/data/training".to_string(), |p, i| {
            format!("{p}/d{i}")
        });
    job.write(&format!("{deep}/part.txt"), "张 B-PER\n");
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("training/d0/d1") && cause.contains("directories deep"),
        "{cause}"
    );
}

#[test]
fn a_checkpoint_that_does_not_fit_its_config_lists_every_mismatch_first() {
    let job = Job::new(8, 4, 0);
    let fixture = Path::new(common::REPO).join("crates/albert-model/fixtures/google_tiny");
    for entry in fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut text = fs::read(&path).unwrap();
        if name == "albert_config.json" {
            let mut config: serde_json::Value = serde_json::from_slice(&text).unwrap();
            config["intermediate_size"] = 40.into();
            text = config.to_string().into_bytes();
        }
        job.write_bytes(&format!("input/data/pretrained/{name}"), &text);
    }
    job.hyperparameters(&[("max_seq_length", "32"), ("window_stride", "8")]);
    let cause = failed(&job, &job.train());
    assert!(
        cause.contains("input/data/pretrained")
            && cause.contains("Google ALBERT")
            && cause.contains("ffn_1/intermediate/dense/kernel` has shape [32, 37] in the file, [32, 40] expected"),
        "{cause}"
    );
}

/// A small tmpfs mounted over `dir` (root only; unmounted on drop), or `None` where mounting is not
/// allowed.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_disk_too_small_for_the_checkpoints_is_refused_before_reading_data() {
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[]));
    let Some(_disk) = SmallDisk::mount(&job.base().join("checkpoints"), "1m") else {
        // CI runs as root (.ci/run sets this); a user's unprivileged clone skips.
        assert!(
            std::env::var_os("ALBERT_NER_REQUIRE_MOUNT").is_none(),
            "cannot mount a tmpfs, and ALBERT_NER_REQUIRE_MOUNT is set"
        );
        eprintln!("notice: cannot mount a tmpfs here (not root): skipped");
        return;
    };
    fs::write(job.base().join("checkpoints/earlier.txt"), "kept").unwrap();
    let o = job.train();
    let cause = failed(&job, &o);
    let dir = job.base().join("checkpoints");
    assert!(
        cause.starts_with(&format!("not enough free disk space for {}", dir.display()))
            && cause.contains("checkpoints of"),
        "{cause}"
    );
    assert!(
        !stdout(&o).contains("sentences"),
        "refused before reading the data: {}",
        stdout(&o)
    );
    assert_eq!(job.read("checkpoints/earlier.txt"), "kept");
}

#[test]
fn a_write_that_fails_says_the_os_message_and_path_and_leaves_no_temporary_file() {
    // A file-size limit (EFBIG, as a full disk gives ENOSPC) that the model and checkpoints exceed but
    // the logs and configs do not; SIGXFSZ ignored so that the write fails instead of killing.
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[]));
    let mut command = job.command();
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200_000,
                rlim_max: 200_000,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = command.output().unwrap();
    let cause = failed(&job, &o);
    assert!(
        cause.contains(&job.base().display().to_string()) && cause.contains("File too large"),
        "the OS message and the path: {cause}"
    );
    assert!(!cause.contains("Os {"), "not debug output: {cause}");
    let mut leftovers = Vec::new();
    for dir in ["model", "checkpoints", "output"] {
        for entry in walk(&job.base().join(dir)) {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name.starts_with(".tmp-") {
                leftovers.push(entry);
            }
        }
    }
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn a_batch_too_large_for_the_memory_limit_is_refused_naming_the_batch_that_fits() {
    // An address-space limit (as `ulimit -v` or a container runtime sets) far below the machine's
    // memory: the check must use it, not MemAvailable.
    let job = Job::new(12, 4, 0);
    job.hyperparameters(&fast(&[("train_batch_size", "20000"), ("device", "cpu")]));
    let mut command = job.command();
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 3 << 30,
                rlim_max: 3 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let o = command.output().unwrap();
    let cause = failed(&job, &o);
    assert!(
        cause.starts_with("train_batch_size=20000 with max_seq_length=64 needs about")
            && cause.contains("(RLIMIT_AS)")
            && cause.contains("the largest batch that fits is about"),
        "{cause}"
    );
    let fits: usize = cause
        .split("the largest batch that fits is about ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number: {cause}"));
    // About 2 GB of the 3 GiB left once libtorch is mapped (0.5-0.9 GB), for activations of about
    // 0.7 MB per sequence of the micro model.
    assert!((1000..6000).contains(&fits), "{cause}");
    assert!(
        !stdout(&o).contains("sentences"),
        "refused before reading the data: {}",
        stdout(&o)
    );
}

/// The first child process of `parent` (from /proc).
fn child_of(parent: u32) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse::<u32>()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
}

#[test]
fn a_training_process_killed_by_the_oom_killer_leaves_a_failure_file_saying_so() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // What the kernel's OOM killer does: SIGKILL to the process that holds the memory, which can
    // report nothing itself.
    let job = Job::new(40, 0, 0);
    job.hyperparameters(&fast(&[
        ("max_steps", "100000"),
        ("num_train_epochs", "1000"),
    ]));
    let mut job_process = job
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(job_process.stdout.take().unwrap()).lines();
    assert!(
        lines.by_ref().any(|l| l.unwrap().contains(" train: ")),
        "training started"
    );
    std::thread::spawn(move || lines.for_each(drop));
    let trainer = child_of(job_process.id()).expect("the training process");
    unsafe { kill(trainer as i32, 9) };
    let status = job_process.wait().unwrap();
    let cause = failed_with_status(&job, status);
    assert!(
        cause.starts_with("the training process was killed by SIGKILL, most likely by the kernel's out-of-memory killer")
            && cause.contains("train_batch_size=8 × max_seq_length=64")
            && cause.contains("GB available at the start"),
        "{cause}"
    );
}
