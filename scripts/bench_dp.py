#!/usr/bin/env python3
"""Data-parallel training on this CPU machine, and what it implies for GPUs (issue: data parallelism).

Measures, in one run:
  1. all-reduce of one float32 buffer the size of each model's gradients between 2 processes over Gloo on
     loopback: ours (crates/ner-dist, example allreduce_bench) and the peer, torch.distributed's Gloo group;
  2. `train` on fixed-length sentences (~126 characters, max_seq_length 128) for tiny and base, on the same
     global batch: 1 process x 2 threads against 2 processes x 1 thread (processes_per_host=2): samples/s
     (median of the train: lines after the first two) and the all-reduce's share of the step time
     (`allreduce_share` in those lines);
  3. bytes all-reduced per step for tiny, base and large (parameter count x 4: gradients are float32), and on
     paper, from those bytes and an assumed GPU step time, the scaling efficiency on 8 x A100 (NVLink) and
     2 x p4d.24xlarge (EFA) for ALBERT-base at batch 32 per GPU, seq 128.

Usage: scripts/bench_dp.py [--configs tiny,base] [--steps 12] [--reps 2]   (after `make build`;
cargo build --release --example allreduce_bench -p ner-dist is run here)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "target/release/train"
EXAMPLE = REPO / "target/release/examples/allreduce_bench"
SAMPLE = REPO / "local_test/test_dir/input/data/training/train.txt"
CONFIGS = {
    "tiny": REPO / "albert_config/albert_config_tiny.json",
    "base": REPO / "albert_config/albert_config_base.json",
    "large": REPO / "albert_config/albert_config_large.json",
}
GLOBAL_BATCH = {"tiny": 32, "base": 8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parameters(config: Path, labels: int = 7) -> int:
    """ALBERT's parameter count from its config (shared layers counted once), plus classifier and CRF."""
    c = json.loads(config.read_text())
    v, h, i = c["vocab_size"], c["hidden_size"], c["intermediate_size"]
    e = c.get("embedding_size", h)
    p, t = c.get("max_position_embeddings", 512), c.get("type_vocab_size", 2)
    groups = c.get("num_hidden_groups", 1)
    embeddings = (v + p + t) * e + 2 * e
    projection = e * h + h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    head = h * labels + labels + labels * labels + 2 * labels
    return embeddings + projection + groups * layer + head


def sentences(n: int, length: int = 126) -> str:
    """`n` sentences of `length` characters cut from the committed sample (whole sentences joined)."""
    blocks = [b for b in SAMPLE.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    pairs = [line.split() for b in blocks for line in b.splitlines() if len(line.split()) == 2]
    out, k = [], 0
    for _ in range(n):
        piece = [pairs[(k + j) % len(pairs)] for j in range(length)]
        k += length
        if piece[0][1].startswith("I-"):
            piece[0][1] = "B-" + piece[0][1][2:]
        out.append("\n".join(f"{c} {t}" for c, t in piece))
    return "\n\n".join(out) + "\n"


def train_run(config: str, processes: int, threads: int, global_batch: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        base = Path(d) / "opt_ml"
        (base / "input/data/training").mkdir(parents=True)
        (base / "input/data/training/train.txt").write_text(sentences(global_batch * 4), encoding="utf-8")
        hp = {
            "bert_config_file": str(CONFIGS[config]),
            "vocab_file": str(REPO / "albert_config/vocab.txt"),
            "max_seq_length": "128",
            "train_batch_size": str(global_batch // processes),
            "processes_per_host": str(processes),
            "max_steps": str(steps),
            "num_train_epochs": "1000",
            "logging_steps": "1",
            "validation_split": "0",
            "save_checkpoints_steps": "100000",
            "master_port": str(free_port()),
            "do_eval": "false",
        }
        (base / "input/config").mkdir(parents=True)
        (base / "input/config/hyperparameters.json").write_text(json.dumps(hp))
        env = dict(os.environ, SAGEMAKER_BASE_DIR=str(base), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        p = subprocess.run([str(TRAIN)], env=env, capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            sys.exit(f"train failed ({config}, {processes} processes):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        saved = safetensors_parameters(base / "model/model.safetensors")
        lines = [l for l in p.stdout.splitlines() if " train: " in l]
        rates = [float(re.search(r"samples_per_s=([0-9.]+)", l).group(1)) for l in lines][2:]
        shares = [float(m.group(1)) for l in lines[2:] if (m := re.search(r"allreduce_share=([0-9.]+)", l))]
        return {
            "saved_parameters": saved,
            "samples_per_s": statistics.median(rates),
            "allreduce_share": statistics.median(shares) if shares else None,
        }


def safetensors_parameters(path: Path) -> int:
    """Elements in a safetensors file, from its JSON header."""
    with path.open("rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name != "__metadata__":
            count = 1
            for d in t["shape"]:
                count *= d
            total += count
    return total


def ours_allreduce(nbytes: int, reps: int) -> float:
    port = str(free_port())
    procs = [subprocess.Popen([str(EXAMPLE), str(r), "2", port, str(nbytes), str(reps)],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS="1")) for r in range(2)]
    outs = [p.communicate()[0] for p in procs]
    return json.loads(outs[0].strip().splitlines()[-1])["median_s"]


PEER = r"""
import os, statistics, sys, time, torch, torch.distributed as dist
rank, port, nbytes, reps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
t = torch.ones(nbytes // 4)
dist.all_reduce(t)
times = []
for _ in range(reps):
    dist.barrier(); s = time.perf_counter(); dist.all_reduce(t); times.append(time.perf_counter() - s)
if rank == 0: print(statistics.median(times))
dist.destroy_process_group()
"""


def peer_allreduce(nbytes: int, reps: int) -> float:
    port = str(free_port())
    python = REPO / ".venv/bin/python"
    procs = [subprocess.Popen([str(python), "-c", PEER, str(r), port, str(nbytes), str(reps)],
                              stdout=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate()[0] for p in procs]
    return float(outs[0].strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--reps", type=int, default=2, help="alternating repetitions of each train run")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--example", "allreduce_bench", "-p", "ner-dist"],
                   cwd=REPO, check=True)
    configs = args.configs.split(",")

    print("== bytes all-reduced per step (float32 gradients)")
    sizes = {}
    for name in ["tiny", "base", "large"]:
        sizes[name] = parameters(CONFIGS[name]) * 4
        print(f"{name:5s} {parameters(CONFIGS[name]):>11,d} parameters  {sizes[name] / 2**20:8.1f} MiB")

    print("\n== all-reduce between 2 processes, Gloo on loopback (median of 10)")
    bw = {}
    for name in configs:
        ours = ours_allreduce(sizes[name], 10)
        peer = peer_allreduce(sizes[name], 10)
        bw[name] = ours
        print(f"{name:5s} ours {ours * 1e3:8.2f} ms ({sizes[name] / ours / 1e9:.2f} GB/s)   "
              f"torch.distributed {peer * 1e3:8.2f} ms ({sizes[name] / peer / 1e9:.2f} GB/s)   ours/peer time {ours / peer:.2f}")

    print("\n== training, same global batch: 1 process x 2 threads vs 2 processes x 1 thread")
    for name in configs:
        gb = GLOBAL_BATCH.get(name, 8)
        one, two = [], []
        for _ in range(args.reps):
            one.append(train_run(name, 1, 2, gb, args.steps))
            two.append(train_run(name, 2, 1, gb, args.steps))
        r1 = statistics.median(r["samples_per_s"] for r in one)
        r2 = statistics.median(r["samples_per_s"] for r in two)
        share = statistics.median(r["allreduce_share"] for r in two)
        saved = one[0]["saved_parameters"]
        assert abs(saved - parameters(CONFIGS[name])) <= 0.001 * saved, (name, saved, parameters(CONFIGS[name]))
        print(f"{name:5s} global batch {gb}: 1x2 threads {r1:7.1f} samples/s   2x1 thread {r2:7.1f} samples/s   "
              f"ratio {r2 / r1:.2f}   all-reduce share at 2 processes {share:.1%}")

    print("\n== on paper: ALBERT-base, batch 32 per GPU, seq 128, gradients all-reduced after backward (no overlap)")
    # Assumed GPU step (forward + backward + AdamW) for a BERT-base-sized encoder at 32 x 128 in bf16 on an
    # A100: ~1,000 sequences/s per GPU (NVIDIA's published BERT-base fine-tuning throughput), i.e. ~32 ms.
    step = 32 / 1000
    nbytes = sizes["base"]
    for label, gpus, busbw in [("8 x A100, NVLink (NCCL bus bandwidth ~200 GB/s)", 8, 200e9),
                               ("2 x p4d.24xlarge, EFA 400 Gb/s (inter-node bus bandwidth ~40 GB/s)", 16, 40e9)]:
        t = 2 * (gpus - 1) / gpus * nbytes / busbw
        print(f"{label}: all-reduce {t * 1e3:.2f} ms per step, efficiency {step / (step + t):.1%}")


if __name__ == "__main__":
    main()
