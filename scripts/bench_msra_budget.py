#!/usr/bin/env python3
"""Accuracy for a fixed wall-clock budget: tiny ALBERT+CRF from scratch on MSRA, albert-ner's `train` job
against the Python peer (HF AlbertModel + pytorch-crf), one after the other with the same settings, both
scored on test.txt by the peer's own entity-level evaluator (ner_eval.py, conlleval semantics).

albert-ner runs as SageMaker would run it (a base directory with the three channels) with
`max_train_seconds`: the budget covers training and its dev-set evaluations; the test set is scored after.
The peer trains for `--time-budget` at a constant learning rate (it has no schedule and no dev selection),
then decodes the test set. Peak RSS is each process tree's maximum resident set (wait4).

Usage: scripts/bench_msra_budget.py [--seconds 1800] [--lr 5e-4] [--batch 16] [--head-mult 10]
                                    [--max-steps 7500] [--eval-steps 1500] [--skip-peer] [--shared ../shared]
Needs `make build` (target/release/train) and the project venv. Takes about twice --seconds.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench import PY, ROOT, peer_config

TRAIN = os.path.join(ROOT, "target", "release", "train")


def run_measured(cmd, log_path, env=None):
    """Runs `cmd` with output to `log_path`; returns (exit code, wall seconds, peak RSS in MB)."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), time.monotonic() - started, usage.ru_maxrss / 1024


def ner_eval(shared, gold, pred):
    script = os.path.join(shared, "bench", "peers", "ner_eval.py")
    out = subprocess.run([PY, script, "--json", gold, pred], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["micro"]


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def train_job(name, hyperparameters, a, msra, work):
    """Runs `train` as SageMaker would (MSRA's three splits as channels) and scores its test predictions."""
    base = os.path.join(work, name)
    for channel, file in [("training", "train.txt"), ("validation", "dev.txt"), ("test", "test.txt")]:
        os.makedirs(os.path.join(base, "input", "data", channel))
        os.symlink(os.path.join(msra, file), os.path.join(base, "input", "data", channel, file))
    write_json(os.path.join(base, "input", "config", "hyperparameters.json"), hyperparameters)
    env = dict(os.environ, SAGEMAKER_BASE_DIR=base, OMP_NUM_THREADS=str(a.threads))
    log = os.path.join(work, f"{name}.log")
    rc, wall, rss = run_measured([TRAIN], log, env)
    if rc != 0:
        sys.exit(f"albert-ner train exited {rc}; see {log}")
    with open(os.path.join(base, "model", "metrics.json")) as f:
        metrics = json.load(f)
    micro = ner_eval(a.shared, os.path.join(msra, "test.txt"),
                     os.path.join(base, "output", "data", "test_predictions.txt"))
    batch = int(hyperparameters["train_batch_size"])
    return {
        "steps": metrics["global_step"], "train_s": metrics["train_seconds"], "wall_s": wall,
        "samples_per_s": metrics["global_step"] * batch / metrics["train_seconds"],
        "best_dev_f1": metrics["best_validation_entity_f1"], "best_step": metrics["best_step"],
        "test": micro, "peak_rss_mb": rss, "log": log,
    }


def ours(a, msra, work):
    return train_job("ours", {
        "bert_config_file": os.path.join(ROOT, "albert_config", "albert_config_tiny.json"),
        "max_seq_length": "128", "train_batch_size": str(a.batch), "learning_rate": str(a.lr),
        "crf_learning_rate_multiplier": str(a.head_mult), "max_steps": str(a.max_steps),
        "max_train_seconds": str(a.seconds), "eval_steps": str(a.eval_steps), "logging_steps": "200",
        "seed": "42", "device": "cpu",
    }, a, msra, work)


def run_peer(cmd, result, work):
    """Runs a peer that appends its JSON result line to `result`: (that result, wall s, peak RSS MB, log path)."""
    log = os.path.join(work, "peer.log")
    rc, wall, rss = run_measured(cmd, log)
    if rc != 0:
        sys.exit(f"peer exited {rc}; see {log}")
    with open(result) as f:
        return json.loads(f.read().splitlines()[-1]), wall, rss, log


def peer(a, msra, work):
    result = os.path.join(work, "peer.json")
    cmd = [PY, os.path.join(a.shared, "bench", "peers", "hf_albert_crf.py"), "--mode", "train",
           "--config", peer_config("tiny", "albert", work), "--vocab", os.path.join(ROOT, "albert_config", "vocab.txt"),
           "--train", os.path.join(msra, "train.txt"), "--test", os.path.join(msra, "test.txt"),
           "--batch", str(a.batch), "--lr", str(a.lr), "--crf-lr-mult", str(a.head_mult),
           "--epochs", "1000", "--time-budget", str(a.seconds), "--threads", str(a.threads),
           "--log-every", "500", "--json-out", result]
    r, wall, rss, log = run_peer(cmd, result, work)
    return {
        "steps": r["train_steps"], "train_s": r["train_s"], "wall_s": wall,
        "samples_per_s": r["train_samples_per_s"], "best_dev_f1": None, "best_step": None,
        "test": {"precision": r["test_p"], "recall": r["test_r"], "f1": r["test_f1"]},
        "peak_rss_mb": rss, "log": log,
    }


def print_results(title, results):
    """One line per run: steps, speed, dev and test scores, peak RSS."""
    width = max(12, *(len(name) for name in results))
    print(f"\n{title}")
    print(f"  {'run':{width}s} {'steps':>7s} {'samples/s':>10s} {'dev F1':>7s} {'test P':>7s} {'test R':>7s} "
          f"{'test F1':>8s} {'peak RSS MB':>12s}")
    for name, r in results.items():
        dev = f"{r['best_dev_f1']:.4f}" if r["best_dev_f1"] is not None else "-"
        t = r["test"]
        print(f"  {name:{width}s} {r['steps']:7d} {r['samples_per_s']:10.1f} {dev:>7s} {t['precision']:7.4f} "
              f"{t['recall']:7.4f} {t['f1']:8.4f} {r['peak_rss_mb']:12.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--head-mult", type=float, default=10)
    ap.add_argument("--max-steps", type=int, default=7500, help="albert-ner's schedule length (warm-up + decay)")
    ap.add_argument("--eval-steps", type=int, default=1500, help="albert-ner's dev evaluations")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--workdir", help="keep logs and outputs here (default: a temporary directory)")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    a.shared = os.path.abspath(a.shared)
    msra = os.path.join(a.shared, "datasets", "msra")
    work = a.workdir or tempfile.mkdtemp(prefix="albert-ner-msra-budget-")
    os.makedirs(work, exist_ok=True)

    results = {"albert-ner": ours(a, msra, work)}
    if not a.skip_peer:
        results["peer"] = peer(a, msra, work)

    print_results(f"MSRA, tiny from scratch, {a.seconds:.0f} s budget, batch {a.batch}, lr {a.lr:g}, "
                  f"head x{a.head_mult:g}, {a.threads} threads (work dir {work})", results)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(json.dumps({"settings": vars(a), "results": results}) + "\n")


if __name__ == "__main__":
    main()
