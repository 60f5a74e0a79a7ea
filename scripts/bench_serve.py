#!/usr/bin/env python3
"""Serving throughput, latency and memory: our `serve` against the Python peer, in one run (issue: serve).

For each config (tiny, base): `train` writes a model directory (1 step from scratch: the weights' values do not
matter for speed, and both servers load the same directory), then each server in turn serves it on loopback
with the same threads:
  ours  target/release/serve (dynamic batching across requests);
  peers scripts/peers/hf_albert_crf_server.py: HF AlbertModel + Linear + pytorch-crf behind FastAPI + uvicorn,
        the emissions computed by PyTorch (`torch`) or, exported with torch.onnx and quantized with onnxruntime's
        quantize_dynamic, by onnxruntime in int8 (`onnxruntime-int8`).
A closed-loop load generator (crates/ner-serve/examples/load.rs: one keep-alive connection per client) sends one real MSRA test sentence per
request (`{"inputs": "..."}`, the committed sample's test split, in a fixed order) at concurrency 1, 8 and 32 for
--seconds each, and reports requests/s (= sentences/s), p50 and p99 latency; for tiny also p99 at concurrency 1
for a 50-character sentence; and each server's peak RSS (VmHWM).
The load generator shares the machine's cores with the server under test, the same for both.

Our server computes in what ALBERT_NER_PRECISION says (`auto`, int8 on a CPU, when unset).

Usage: scripts/bench_serve.py [--configs tiny,base] [--seconds 10] [--threads 2] [--concurrency 1,8,32]
                              [--peers torch,onnxruntime-int8]
(after `make build`; builds the load generator and installs requirements/bench-serve.txt into .venv when missing)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVE = REPO / "target/release/serve"
TRAIN = REPO / "target/release/train"
LOAD = REPO / "target/release/examples/load"
TEST_DIR = REPO / "local_test/test_dir"
PYTHON = REPO / ".venv/bin/python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def msra_sentences() -> list[str]:
    text = (TEST_DIR / "input/data/test/test.txt").read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return ["".join(line.split(" ")[0] for line in b.splitlines()) for b in blocks]


def make_model(config: str, work: Path) -> Path:
    base = work / f"job-{config}"
    shutil.copytree(TEST_DIR / "input", base / "input")
    hp = json.loads((base / "input/config/hyperparameters.json").read_text())
    hp.update({"bert_config_file": f"albert_config/albert_config_{config}.json", "max_steps": "1",
               "train_batch_size": "8", "do_eval": "false"})
    (base / "input/config/hyperparameters.json").write_text(json.dumps(hp))
    shutil.rmtree(base / "input/data/validation", ignore_errors=True)
    shutil.rmtree(base / "input/data/test", ignore_errors=True)
    subprocess.run([str(TRAIN)], cwd=REPO, env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return base / "model"


def closed_loop(port: int, bodies: list[bytes], concurrency: int, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as f:
        f.write(b"\n".join(bodies) + b"\n")
        f.flush()
        out = subprocess.run([str(LOAD), str(port), str(concurrency), str(seconds), f.name], check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out)


def wait_ping(port: int, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("no /ping 200")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(kind: str, model: Path, port: int, threads: int) -> subprocess.Popen:
    """`ours`, or a peer named by its runtime."""
    if kind == "ours":
        cmd = [str(SERVE), "--model-dir", str(model), "--device", "cpu"]
    else:
        cmd = [str(PYTHON), "-m", "uvicorn", "--app-dir", str(REPO / "scripts/peers"), "hf_albert_crf_server:app",
               "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port), "ALBERT_NER_THREADS": str(threads),
           "MODEL_DIR": str(model), "THREADS": str(threads), "PEER_RUNTIME": kind, "RUST_LOG": "warn"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_server(kind: str, model: Path, args, sentences: list[str], fifty: str, config: str) -> dict:
    port = free_port()
    proc = start_server(kind, model, port, args.threads)
    try:
        wait_ping(port, proc)
        bodies = [json.dumps({"inputs": s}, ensure_ascii=False).encode() for s in sentences]
        closed_loop(port, bodies, 4, 2.0)  # warm-up
        out = {"server": kind, "config": config}
        for c in args.concurrency:
            out[f"c{c}"] = closed_loop(port, bodies, c, args.seconds)
            print(f"  {config} {kind:16} c={c:<2} {out[f'c{c}']['requests_per_s']:8.1f} req/s  "
                  f"p50 {out[f'c{c}']['p50_ms']:7.1f} ms  p99 {out[f'c{c}']['p99_ms']:7.1f} ms", flush=True)
        if config == "tiny":
            body = [json.dumps({"inputs": fifty}, ensure_ascii=False).encode()]
            out["c1_50_chars"] = closed_loop(port, body, 1, args.seconds)
            print(f"  {config} {kind:16} c=1 50 chars: p50 {out['c1_50_chars']['p50_ms']:.1f} ms  "
                  f"p99 {out['c1_50_chars']['p99_ms']:.1f} ms", flush=True)
        out["peak_rss_mb"] = peak_rss_mb(proc.pid)
        print(f"  {config} {kind:16} peak RSS {out['peak_rss_mb']:.0f} MB", flush=True)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="tiny,base")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--peers", default="torch,onnxruntime-int8")
    args = p.parse_args()
    peers = args.peers.split(",")
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    subprocess.run(["cargo", "build", "--release", "--example", "load", "-p", "ner-serve"], cwd=REPO, check=True,
                   stderr=subprocess.DEVNULL)
    if subprocess.run([str(PYTHON), "-c", "import fastapi, uvicorn"], capture_output=True).returncode != 0:
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "-r", str(REPO / "requirements/bench-serve.txt")],
                       check=True)
    sentences = msra_sentences()
    fifty = next((s for s in sentences if len(s) == 50), "".join(sentences)[:50])
    print(f"{len(sentences)} MSRA test sentences, mean {statistics.mean(map(len, sentences)):.1f} chars; "
          f"{os.cpu_count()} cores, {args.threads} threads per server, {args.seconds:.0f} s per point", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for config in args.configs.split(","):
            model = make_model(config, Path(work))
            runs = {kind: bench_server(kind, model, args, sentences, fifty, config) for kind in ["ours", *peers]}
            results.extend(runs.values())
            ours = runs["ours"]
            for peer in peers:
                for c in args.concurrency:
                    ratio = ours[f"c{c}"]["requests_per_s"] / runs[peer][f"c{c}"]["requests_per_s"]
                    print(f"  {config} throughput ours/{peer} at c={c}: x{ratio:.2f}", flush=True)
                print(f"  {config} peak RSS ours/{peer}: {ours['peak_rss_mb'] / runs[peer]['peak_rss_mb']:.2f}",
                      flush=True)
    for r in results:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
