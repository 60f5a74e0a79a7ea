#!/usr/bin/env python3
"""Inference precision on a CPU: what `auto` is chosen from (README, "Inference precision").

speed: tagging sentences/s of our `bench` at each precision (fp32, int8, bf16), runs interleaved so that
       other load on the machine falls on every precision alike, with the Python peer's fp32 figure (HF
       AlbertModel/BertModel + pytorch-crf, `hf_albert_crf.py --mode bench`) on the same sentences.
f1:    entity F1 of `predict --precision P` on a test file for a trained model directory, each scored by
       the peer's evaluator (ner_eval.py, conlleval semantics), with each run's wall time.

Usage: scripts/bench_precision.py speed [--configs tiny,base] [--encoders albert,bert] [--reps 3]
                                        [--data ../shared/datasets/msra/test.txt] [--skip-peer]
       scripts/bench_precision.py f1 --model-dir DIR [--test ../shared/datasets/msra/test.txt]
Needs `make build` and the project venv; --data/--test default to MSRA under ../shared.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from bench import PY, ROOT, median, peer_config, run_json

OURS_BENCH = os.path.join(ROOT, "target", "release", "bench")
PREDICT = os.path.join(ROOT, "target", "release", "predict")
PRECISIONS = ["fp32", "int8", "bf16"]


def speed(a):
    """Sentences/s per precision, median of --reps interleaved rounds, for each config and encoder."""
    for encoder in a.encoders.split(","):
        for cfg in a.configs.split(","):
            sents = str(a.sents_tiny if cfg == "tiny" else a.sents_base)
            common = ["--config", cfg, "--lengths", "real", "--data", a.data, "--batch", "2", "--warmup", "0",
                      "--steps", "1", "--infer-sents", sents, "--infer-batch", str(a.batch),
                      "--threads", str(a.threads)]
            rows = {p: [] for p in PRECISIONS}
            peer = []
            for _ in range(a.reps):
                for p in PRECISIONS:
                    rows[p].append(run_json([OURS_BENCH, "--encoder", encoder, "--precision", p, *common]))
                if not a.skip_peer:
                    peer_common = list(common)
                    peer_common[1] = peer_config(cfg, encoder, a.workdir)
                    peer.append(run_json([PY, os.path.join(a.shared, "bench", "peers", "hf_albert_crf.py"),
                                          "--mode", "bench", "--train", a.data, "--test", a.data,
                                          *[x for x in peer_common if x not in ("--lengths", "real", "--data", a.data)]]))
            fp32 = median(rows["fp32"], "infer_sents_per_s")
            print(f"\n{encoder} {cfg}: tagging sentences/s, batch {a.batch}, {a.threads} threads, {sents} sentences "
                  f"of {os.path.basename(a.data)} (median of {a.reps})")
            for p in PRECISIONS:
                s = median(rows[p], "infer_sents_per_s")
                runs = ", ".join(f"{r['infer_sents_per_s']:.1f}" for r in rows[p])
                print(f"  {p:6s} {s:10.1f}  {s / fp32:5.2f}x fp32   [{runs}]")
            if peer:
                s = median(peer, "infer_sents_per_s")
                print(f"  {'peer':6s} {s:10.1f}  {s / fp32:5.2f}x fp32   (HF + pytorch-crf, fp32)")


def f1(a):
    """Entity F1 and wall time of `predict` at each precision on --test."""
    with open(a.test, encoding="utf-8") as f:
        blocks = [b for b in f.read().split("\n\n") if b.strip()]
    text = "".join("".join(l.split()[0] for l in b.splitlines() if l.strip()) + "\n" for b in blocks)
    raw = os.path.join(a.workdir, "test_raw.txt")
    with open(raw, "w", encoding="utf-8") as f:
        f.write(text)
    eval_script = os.path.join(a.shared, "bench", "peers", "ner_eval.py")
    print(f"\n{a.model_dir}: {len(blocks)} sentences of {a.test}, batch {a.batch}, {a.threads} threads")
    results = {}
    for p in ["fp32", "int8", "bf16", "auto"]:
        out = os.path.join(a.workdir, f"pred_{p}.txt")
        started = time.monotonic()
        with open(out, "w", encoding="utf-8") as f:
            proc = subprocess.run([PREDICT, "--model-dir", a.model_dir, "--input", raw, "--device", "cpu",
                                   "--precision", p, "--batch-size", str(a.batch)], stdout=f, stderr=subprocess.PIPE,
                                  text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads), RUST_LOG="info"))
        wall = time.monotonic() - started
        if proc.returncode != 0:
            sys.exit(f"predict --precision {p} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        scored = subprocess.run([PY, eval_script, "--json", a.test, out], check=True, capture_output=True, text=True)
        micro = __import__("json").loads(scored.stdout)["micro"]
        results[p] = micro["f1"]
        why = [l for l in proc.stderr.splitlines() if "precision" in l]
        print(f"  {p:5s} P {micro['precision']:.4f} R {micro['recall']:.4f} F1 {micro['f1']:.4f} "
              f"({100 * (micro['f1'] - results['fp32']):+.2f} points)  predict {wall:6.1f} s  "
              f"{why[-1].split('precision ')[-1] if why else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["speed", "f1"])
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--encoders", default="albert")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sents-tiny", type=int, default=1024)
    ap.add_argument("--sents-base", type=int, default=256)
    ap.add_argument("--data")
    ap.add_argument("--test")
    ap.add_argument("--model-dir")
    ap.add_argument("--skip-peer", action="store_true")
    a = ap.parse_args()
    a.shared = os.path.abspath(a.shared)
    msra_test = os.path.join(a.shared, "datasets", "msra", "test.txt")
    a.data = a.data or msra_test
    a.test = a.test or msra_test
    a.workdir = tempfile.mkdtemp(prefix="albert-ner-precision-")
    if a.mode == "speed":
        speed(a)
    else:
        if not a.model_dir:
            sys.exit("f1 needs --model-dir")
        f1(a)


if __name__ == "__main__":
    main()
