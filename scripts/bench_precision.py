#!/usr/bin/env python3
"""Inference precision on a CPU: what `auto` is chosen from (README, "Inference precision").

speed: tagging sentences/s of our `bench` at each precision (fp32, int8, bf16), runs interleaved so that
       other load on the machine falls on every precision alike, with the Python peer's fp32 figure (HF
       AlbertModel/BertModel + pytorch-crf, `hf_albert_crf.py --mode bench`) on the same sentences.
f1:    entity F1 of `predict --precision P` on a test file for a trained model directory, each scored by
       the peer's evaluator (ner_eval.py, conlleval semantics), with each run's wall time.
runtime: libtorch against onnxruntime at equal precision on one config and the same batching: our `bench` at
       each precision (the config, random weights: speed does not depend on the weights' values), and a model
       of the config (`train`, 1 step) exported with `export --format onnx`, run by a default onnxruntime
       session in fp32 and after onnxruntime's own `quantize_dynamic` (its defaults). The first --sents-*
       sentences of --data are cut to one window (--seq-len - 2 characters) and batched alike on both sides
       (length-sorted, --batch rows; onnxruntime's side takes one id per character, ours word pieces for
       digit and Latin runs: within 0.4% of the padded tokens); GFLOP/s counts the encoder's and classifier's multiply-adds in those
       padded batches (attention included, the CRF not). onnxruntime's figure is the network alone; ours
       also decodes the CRF, so the comparison leans towards onnxruntime.

Usage: scripts/bench_precision.py speed [--configs tiny,base] [--encoders albert,bert] [--reps 3]
                                        [--data ../shared/datasets/msra/test.txt] [--skip-peer]
       scripts/bench_precision.py f1 --model-dir DIR [--test ../shared/datasets/msra/test.txt]
       scripts/bench_precision.py runtime [--configs tiny,base] [--reps 3] [--data ...] [--seq-len 128]
Needs `make build` and the project venv; --data/--test default to MSRA under ../shared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def runtime(a):
    """Sentences/s and GFLOP/s of libtorch (ours) and onnxruntime on the same batches, median of --reps
    interleaved rounds."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bench_serve import make_model

    for cfg in a.configs.split(","):
        count = a.sents_tiny if cfg == "tiny" else a.sents_base
        sentences = one_window_sentences(a.data, count, a.seq_len - 2)
        data = os.path.join(a.workdir, f"one_window_{cfg}.txt")
        with open(data, "w", encoding="utf-8") as f:
            f.write("\n\n".join("\n".join(f"{c} {t}" for c, t in s) for s in sentences) + "\n")
        model = make_model(cfg, Path(a.workdir))
        fp32 = os.path.join(a.workdir, f"onnx-{cfg}")
        subprocess.run([os.path.join(ROOT, "target", "release", "export"), "--model-dir", str(model), "--format",
                        "onnx", "--out", fp32], check=True, stdout=subprocess.DEVNULL, env=dict(os.environ,
                        ALBERT_NER_PYTHON=os.environ.get("ALBERT_NER_PYTHON", PY)))
        fp32 = os.path.join(fp32, "emissions.onnx")
        int8 = fp32.replace(".onnx", ".int8.onnx")
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        config = json.load(open(model / "config.json"))
        batches = padded_batches(model / "vocab.txt", sentences, a.batch)
        gflop = sum(encoder_flops(config, *ids.shape) for ids, _ in batches) / 1e9

        def session(path):
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = a.threads, 1
            return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        sessions = {"ort fp32": session(fp32), "ort int8": session(int8)}
        ours = ["--config", cfg, "--lengths", "real", "--data", data, "--seq-len", str(a.seq_len), "--batch", "2",
                "--warmup", "0", "--steps", "1", "--infer-sents", str(count), "--infer-batch", str(a.batch),
                "--threads", str(a.threads)]
        rows = {name: [] for name in PRECISIONS + list(sessions)}
        for _ in range(a.reps):
            for p in PRECISIONS:
                rows[p].append(run_json([OURS_BENCH, "--precision", p, *ours])["infer_sents_per_s"])
            for name, s in sessions.items():
                rows[name].append(count / run_twice(s, batches))
        base = statistics.median_high(rows["fp32"])
        print(f"\n{cfg}: {count} sentences of {os.path.basename(a.data)} cut to {a.seq_len - 2} characters, "
              f"batch {a.batch}, {a.threads} threads, {gflop:.1f} GFLOP a pass (median of {a.reps})")
        for name, values in rows.items():
            per_s = statistics.median_high(values)
            label = name if name.startswith("ort") else f"ours {name}"
            print(f"  {label:9s} {per_s:9.1f} sent/s  {per_s / base:5.2f}x ours fp32  "
                  f"{gflop * per_s / count:7.1f} GFLOP/s   [{', '.join(f'{v:.1f}' for v in values)}]")


def one_window_sentences(path, count, chars):
    """The first `count` sentences of a `char TAG` file, each cut to `chars` characters."""
    with open(path, encoding="utf-8") as f:
        blocks = [b for b in f.read().split("\n\n") if b.strip()][:count]
    return [[tuple(line.split(" ")) for line in b.strip().splitlines()][:chars] for b in blocks]


def padded_batches(vocab_path, sentences, batch):
    """(input_ids, attention_mask) batches as our `bench` makes them: length-sorted, `batch` rows each."""
    import numpy as np

    vocab = {w: i for i, w in enumerate(Path(vocab_path).read_text(encoding="utf-8").splitlines())}
    ids = [[vocab["[CLS]"], *(vocab.get(c.lower(), vocab["[UNK]"]) for c, _ in s), vocab["[SEP]"]] for s in sentences]
    ids.sort(key=len)
    out = []
    for k in range(0, len(ids), batch):
        rows = ids[k:k + batch]
        padded = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
        for r, row in enumerate(rows):
            padded[r, :len(row)] = row
        out.append((padded, (padded != 0).astype(np.int64)))
    return out


def encoder_flops(config, rows, length):
    """Multiply-adds x 2 of an ALBERT/BERT encoder and the classifier on a padded batch."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    tokens = rows * length
    projection = config.get("embedding_size", h) * h if config.get("embedding_size", h) != h else 0
    per_layer = tokens * (4 * h * h + 2 * h * i) + 2 * rows * length * length * h
    return 2 * (tokens * projection + layers * per_layer + tokens * h * len(config.get("id2label", {})))


def run_twice(session, batches):
    """Seconds of the second of two passes over `batches` (the first warms up)."""
    for ids, mask in batches:
        session.run(None, {"input_ids": ids, "attention_mask": mask})
    started = time.perf_counter()
    for ids, mask in batches:
        session.run(None, {"input_ids": ids, "attention_mask": mask})
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["speed", "f1", "runtime"])
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--encoders", default="albert")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=128)
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
    elif a.mode == "runtime":
        runtime(a)
    else:
        if not a.model_dir:
            sys.exit("f1 needs --model-dir")
        f1(a)


if __name__ == "__main__":
    main()
