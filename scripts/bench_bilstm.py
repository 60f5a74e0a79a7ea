#!/usr/bin/env python3
"""The BiLSTM encoders against the PyTorch BiLSTM-CRF peer (scripts/peers/bilstm_crf.py: nn.Embedding +
nn.LSTM over pack_padded_sequence + torchcrf.CRF, as a PyTorch user writes it), on MSRA.

speed:    our `bench --encoder bilstm` and the peer's bench mode, alternately (--reps each): training
          samples/s over batches of MSRA's real sentences, tagging sentences/s, peak RSS; medians and ratios.
accuracy: `train` with encoder=bilstm (its defaults) for --seconds of wall time on MSRA's train split (dev to
          select, test scored after), then the peer for the same --seconds (constant learning rate, no dev
          selection); both scored on test.txt by the peer's evaluator (ner_eval.py, conlleval semantics).
          --encoders also runs albert_bilstm and albert (tiny, from scratch) in the same budget.

Usage: scripts/bench_bilstm.py speed [--reps 3]
       scripts/bench_bilstm.py accuracy [--seconds 1800] [--encoders bilstm,albert_bilstm,albert] [--skip-peer]
Needs `make build` and the project venv; ../shared for MSRA and the evaluator.
"""
import argparse
import json
import os
import statistics
import tempfile

from bench import PY, ROOT, run_json
from bench_msra_budget import ner_eval, print_results, run_peer, train_job

PEER = os.path.join(ROOT, "scripts", "peers", "bilstm_crf.py")
BENCH = os.path.join(ROOT, "target", "release", "bench")


def speed(a, msra):
    train, vocab = os.path.join(msra, "train.txt"), os.path.join(ROOT, "albert_config", "vocab.txt")
    # Both tag the first --infer-sents sentences of the training file.
    ours_cmd = [BENCH, "--encoder", "bilstm", "--lengths", "real", "--data", train, "--batch", str(a.batch),
                "--seq-len", "128", "--warmup", "5", "--steps", str(a.steps), "--infer-sents", str(a.infer_sents),
                "--infer-batch", "64", "--threads", str(a.threads)]
    peer_cmd = [PY, PEER, "--mode", "bench", "--vocab", vocab, "--train", train, "--test", train,
                "--batch", str(a.batch), "--steps", str(a.steps), "--infer-sents", str(a.infer_sents),
                "--infer-batch", "64", "--threads", str(a.threads)]
    rows = {"albert-ner": [], "peer": []}
    for _ in range(a.reps):
        rows["albert-ner"].append(run_json(ours_cmd))
        rows["peer"].append(run_json(peer_cmd))
    print(f"\nBiLSTM-CRF (characters 100, hidden 128x2, one layer), MSRA's real sentences, batch {a.batch}, "
          f"{a.threads} threads; medians of {a.reps}")
    print(f"  {'figure':24s} {'albert-ner':>12s} {'peer':>12s} {'ratio':>8s}")
    result = {}
    for key, better in [("train_samples_per_s", "higher"), ("infer_sents_per_s", "higher"),
                        ("peak_rss_mb", "lower")]:
        o = statistics.median(r[key] for r in rows["albert-ner"])
        p = statistics.median(r[key] for r in rows["peer"])
        ratio = o / p if better == "higher" else p / o
        print(f"  {key:24s} {o:12.1f} {p:12.1f} {ratio:7.2f}x")
        result[key] = {"ours": o, "peer": p, "ratio": ratio}
    return {"rows": rows, "summary": result}


def peer_accuracy(a, msra, work):
    predictions = os.path.join(work, "peer_predictions.txt")
    result = os.path.join(work, "peer.json")
    cmd = [PY, PEER, "--mode", "train", "--vocab", os.path.join(ROOT, "albert_config", "vocab.txt"),
           "--train", os.path.join(msra, "train.txt"), "--test", os.path.join(msra, "test.txt"),
           "--predictions", predictions, "--batch", str(a.batch), "--time-budget", str(a.seconds),
           "--threads", str(a.threads), "--json-out", result]
    r, wall, rss, log = run_peer(cmd, result, work)
    return {"steps": r["train_steps"], "train_s": r["train_s"], "wall_s": wall,
            "samples_per_s": r["train_samples_per_s"], "best_dev_f1": None, "best_step": None,
            "test": ner_eval(a.shared, os.path.join(msra, "test.txt"), predictions), "peak_rss_mb": rss,
            "log": log}


def accuracy(a, msra, work):
    # The schedule's length: what fits in the budget at the speed measured here (~28 steps/s for bilstm at
    # batch 32 with its evaluations, ~4 for tiny ALBERT at batch 16), so the learning rate decays within it.
    settings = {
        "bilstm": {"encoder": "bilstm", "train_batch_size": str(a.batch),
                   "max_steps": str(int(a.seconds * 27)), "eval_steps": "2000"},
        "albert_bilstm": {"encoder": "albert_bilstm", "train_batch_size": "16", "learning_rate": "5e-4",
                          "crf_learning_rate_multiplier": "10",
                          "bert_config_file": os.path.join(ROOT, "albert_config", "albert_config_tiny.json"),
                          "max_steps": str(int(a.seconds * 4)), "eval_steps": "1500"},
        "albert": {"encoder": "albert", "train_batch_size": "16", "learning_rate": "5e-4",
                   "crf_learning_rate_multiplier": "10",
                   "bert_config_file": os.path.join(ROOT, "albert_config", "albert_config_tiny.json"),
                   "max_steps": str(int(a.seconds * 4)), "eval_steps": "1500"},
    }
    results = {}
    for encoder in a.encoders.split(","):
        hp = dict(settings[encoder], max_seq_length="128", max_train_seconds=str(a.seconds),
                  logging_steps="500", seed="42", device="cpu")
        results[encoder] = train_job(encoder, hp, a, msra, work)
    if not a.skip_peer:
        results["peer (PyTorch BiLSTM-CRF)"] = peer_accuracy(a, msra, work)
    print_results(f"MSRA from scratch, {a.seconds:.0f} s of training each, {a.threads} threads (work dir {work})",
                  results)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "accuracy"])
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--infer-sents", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--encoders", default="bilstm")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--workdir")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    a.shared = os.path.abspath(a.shared)
    msra = os.path.join(a.shared, "datasets", "msra")
    if a.what == "speed":
        out = speed(a, msra)
    else:
        work = a.workdir or tempfile.mkdtemp(prefix="albert-ner-bilstm-")
        os.makedirs(work, exist_ok=True)
        out = accuracy(a, msra, work)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(json.dumps({"what": a.what, "settings": vars(a), "results": out}) + "\n")


if __name__ == "__main__":
    main()
