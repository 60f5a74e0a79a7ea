#!/usr/bin/env python3
"""Pre-training's speed and what it buys.

speed: albert-ner's `train` job with task=pretrain against the Python peer
(scripts/peers/hf_mlm.py: transformers' AlbertForMaskedLM / BertForMaskedLM, run_mlm's grouping, whole-word
masking by DataCollatorForLanguageModeling over jieba's words), alternately on the same raw text (MSRA's
train.txt with its tags dropped), sequences of 128 pieces, the same batch. Prints medians and ratios.

Ours runs as SageMaker would run it (a base directory, the text in the `training` channel); its rate is timed
between the `train:` lines of step --warmup and the last step (after the text is counted), the peer's over the
same steps. Peak RSS is each process tree's maximum resident set (wait4).

accuracy: the low-resource case: 500 labelled sentences of MSRA train (a seeded pick) and the text of the rest,
tags dropped. (a) tiny ALBERT+CRF from scratch on the 500; (b) --pretrain-seconds of task=pretrain on the text,
then the same fine-tuning from its model. Both select on MSRA dev and are scored on MSRA test by the peer's
evaluator (ner_eval.py, conlleval semantics).

Usage: scripts/bench_pretrain.py speed [--configs tiny,base] [--batch 32] [--reps 3] [--lines 5000]
       scripts/bench_pretrain.py accuracy [--pretrain-seconds 1800] [--pretrain-steps 2000]
       (both: [--shared ../shared] [--threads 2])
Needs `make build` and the project venv; installs requirements/bench-pretrain.txt (jieba) into it when missing.
"""
import argparse
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

from bench_msra_budget import ner_eval, run_measured, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
TRAIN = os.path.join(ROOT, "target", "release", "train")
PEER = os.path.join(ROOT, "scripts", "peers", "hf_mlm.py")
STEP_LINE = re.compile(r"^(\S+Z) .* train: .*step=(\d+)/")


def raw_text(msra_train, lines, path):
    """The first `lines` sentences of a `char TAG` file as raw text, one per line."""
    out, chars = [], []
    with open(msra_train, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                chars.append(parts[0] if len(parts) > 1 else " ")
            elif chars:
                out.append("".join(chars))
                chars = []
                if len(out) == lines:
                    break
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def config_path(cfg, family):
    return os.path.join(ROOT, "albert_config", f"{family}_config_{cfg}.json")


def ours(a, cfg, text, work, rep):
    base = os.path.join(work, f"ours-{cfg}-{rep}")
    os.makedirs(os.path.join(base, "input", "data", "training"))
    os.symlink(text, os.path.join(base, "input", "data", "training", "corpus.txt"))
    steps = a.warmup + a.steps
    write_json(os.path.join(base, "input", "config", "hyperparameters.json"), {
        "task": "pretrain", "encoder": a.family, "bert_config_file": config_path(cfg, a.family),
        "max_seq_length": "128", "train_batch_size": str(a.batch), "learning_rate": "0.001",
        "max_steps": str(steps), "logging_steps": "1", "eval_steps": "0", "save_checkpoints_steps": "0",
        "seed": "42", "device": "cpu",
    })
    env = dict(os.environ, SAGEMAKER_BASE_DIR=base, OMP_NUM_THREADS=str(a.threads))
    log = os.path.join(work, f"ours-{cfg}-{rep}.log")
    rc, _, rss = run_measured([a.train], log, env)
    if rc != 0:
        sys.exit(f"train exited {rc}; see {log}")
    at = {}
    with open(log) as f:
        for line in f:
            m = STEP_LINE.match(line)
            if m:
                at[int(m.group(2))] = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    seconds = (at[steps] - at[a.warmup]).total_seconds()
    return {"train_samples_per_s": a.batch * a.steps / seconds, "peak_rss_mb": rss}


def peer(a, cfg, text, work, rep):
    log = os.path.join(work, f"peer-{cfg}-{rep}.log")
    cmd = [PY, PEER, "--config", config_path(cfg, a.family), "--family", a.family, "--text", text,
           "--batch", str(a.batch), "--warmup", str(a.warmup), "--steps", str(a.steps), "--threads", str(a.threads)]
    rc, _, rss = run_measured(cmd, log)
    if rc != 0:
        sys.exit(f"peer exited {rc}; see {log}")
    with open(log) as f:
        r = json.loads([l for l in f if l.startswith("{")][-1])
    return {"train_samples_per_s": r["train_samples_per_s"], "peak_rss_mb": rss, "words": r["words"]}


def sentences(path):
    """The `char TAG` blocks of a file, as their text."""
    with open(path, encoding="utf-8") as f:
        return [b for b in f.read().split("\n\n") if b.strip()]


def text_of(block):
    return "".join(l.split()[0] if len(l.split()) > 1 else " " for l in block.splitlines() if l.strip())


def ner_job(name, a, work, train_file, init=None):
    """A tiny ALBERT+CRF fine-tuning job on `train_file`, dev-selected, scored on test (ner_eval's micro)."""
    base = os.path.join(work, name)
    msra = os.path.join(a.shared, "datasets", "msra")
    for channel, src in (("training", train_file), ("validation", os.path.join(msra, "dev.txt")),
                         ("test", os.path.join(msra, "test.txt"))):
        os.makedirs(os.path.join(base, "input", "data", channel))
        os.symlink(src, os.path.join(base, "input", "data", channel, os.path.basename(src)))
    hp = {"bert_config_file": config_path("tiny", "albert"), "max_seq_length": "128", "train_batch_size": "16",
          "learning_rate": "0.0005", "crf_learning_rate_multiplier": "10", "num_train_epochs": str(a.epochs),
          "eval_steps": "100", "early_stopping_patience": "6", "logging_steps": "50", "seed": "42",
          "device": "cpu"}
    if init:
        hp["init_checkpoint"] = init
        del hp["bert_config_file"]
    write_json(os.path.join(base, "input", "config", "hyperparameters.json"), hp)
    env = dict(os.environ, SAGEMAKER_BASE_DIR=base, OMP_NUM_THREADS=str(a.threads))
    log = os.path.join(work, f"{name}.log")
    rc, wall, rss = run_measured([a.train], log, env)
    if rc != 0:
        sys.exit(f"{name}: train exited {rc}; see {log}")
    with open(os.path.join(base, "model", "metrics.json")) as f:
        metrics = json.load(f)
    micro = ner_eval(a.shared, os.path.join(msra, "test.txt"),
                     os.path.join(base, "output", "data", "test_predictions.txt"))
    return {"best_dev_f1": metrics["best_validation_entity_f1"], "steps": metrics["global_step"],
            "test": micro, "wall_s": wall, "log": log}


def accuracy(a):
    msra = os.path.join(a.shared, "datasets", "msra")
    work = tempfile.mkdtemp(prefix="albert-ner-bench-pretrain-accuracy-")
    blocks = sentences(os.path.join(msra, "train.txt"))
    picked = set(random.Random(42).sample(range(len(blocks)), 500))
    labelled = os.path.join(work, "train500.txt")
    with open(labelled, "w", encoding="utf-8") as f:
        f.write("\n\n".join(blocks[i] for i in sorted(picked)) + "\n")
    text = os.path.join(work, "raw", "corpus.txt")
    os.makedirs(os.path.dirname(text))
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(text_of(b) for i, b in enumerate(blocks) if i not in picked) + "\n")
    print(f"500 labelled sentences, {len(blocks) - 500} of raw text; work in {work}", flush=True)

    scratch = ner_job("a_scratch", a, work, labelled)
    print(f"(a) from scratch: test {scratch['test']}, dev {scratch['best_dev_f1']}", flush=True)

    base = os.path.join(work, "pretrain")
    os.makedirs(os.path.join(base, "input", "data", "training"))
    os.symlink(text, os.path.join(base, "input", "data", "training", "corpus.txt"))
    write_json(os.path.join(base, "input", "config", "hyperparameters.json"), {
        "task": "pretrain", "bert_config_file": config_path("tiny", "albert"), "max_seq_length": "128",
        "train_batch_size": "32", "learning_rate": str(a.pretrain_lr), "max_steps": str(a.pretrain_steps),
        "max_train_seconds": str(a.pretrain_seconds), "warmup_proportion": "0.05", "logging_steps": "50",
        "eval_steps": "250", "save_checkpoints_steps": "0", "seed": "42", "device": "cpu"})
    env = dict(os.environ, SAGEMAKER_BASE_DIR=base, OMP_NUM_THREADS=str(a.threads))
    log = os.path.join(work, "pretrain.log")
    rc, wall, rss = run_measured([a.train], log, env)
    if rc != 0:
        sys.exit(f"pretrain exited {rc}; see {log}")
    with open(os.path.join(base, "model", "metrics.json")) as f:
        pm = json.load(f)
    print(f"pre-training: {pm['global_step']} steps in {pm['train_seconds']:.0f} s, held-out {pm['held_out']}, "
          f"peak RSS {rss:.0f} MB", flush=True)
    tuned = ner_job("b_pretrained", a, work, labelled, init=os.path.join(base, "model"))
    print(f"(b) pre-trained then fine-tuned: test {tuned['test']}, dev {tuned['best_dev_f1']}")
    print(f"\nentity F1 on MSRA test: (a) {scratch['test']['f1']:.4f}  (b) {tuned['test']['f1']:.4f}  "
          f"(b) - (a) = {tuned['test']['f1'] - scratch['test']['f1']:+.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "accuracy"])
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--pretrain-seconds", type=float, default=1800)
    ap.add_argument("--pretrain-steps", type=int, default=2000, help="the schedule's length (the budget may end it)")
    ap.add_argument("--pretrain-lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=40, help="fine-tuning epochs over the 500 (early stopping on dev)")
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--family", choices=["albert", "bert"], default="albert")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 10 tiny, 3 base)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lines", type=int, default=5000, help="sentences of MSRA train as the raw text")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train", default=TRAIN, help="the train binary (a copy keeps a long run off later builds)")
    a = ap.parse_args()
    if a.what == "accuracy":
        return accuracy(a)
    msra = os.path.join(a.shared, "datasets", "msra", "train.txt")
    if not os.path.exists(msra):
        sys.exit(f"bench_pretrain: {msra} is missing (pass --shared DIR)")
    if subprocess.run([PY, "-c", "import jieba"], capture_output=True).returncode != 0:
        subprocess.run([PY, "-m", "pip", "install", "-q", "-r",
                        os.path.join(ROOT, "requirements", "bench-pretrain.txt")], check=True)
    work = tempfile.mkdtemp(prefix="albert-ner-bench-pretrain-")
    text = os.path.join(work, "corpus.txt")
    raw_text(msra, a.lines, text)
    for cfg in a.configs.split(","):
        steps_given = a.steps
        a.steps = a.steps or (10 if cfg == "tiny" else 3)
        rows = {"ours": [], "peer": []}
        for rep in range(a.reps):
            rows["ours"].append(ours(a, cfg, text, work, rep))
            rows["peer"].append(peer(a, cfg, text, work, rep))
        print(f"\npre-training {a.family} {cfg}, batch {a.batch}, seq 128, {a.steps} timed steps "
              f"(median of {a.reps}; peer words: {rows['peer'][0]['words']})")
        print(f"  {'figure':24s} {'albert-ner':>12s} {'peer':>12s} {'ratio':>8s}")
        for key in ("train_samples_per_s", "peak_rss_mb"):
            o = statistics.median(r[key] for r in rows["ours"])
            p = statistics.median(r[key] for r in rows["peer"])
            ratio = o / p  # speed: ours/peer (higher is better); RSS: ours/peer (lower is better)
            print(f"  {key:24s} {o:12.2f} {p:12.2f} {ratio:7.2f}x")
        a.steps = steps_given
    print(f"\n(logs in {work})")


if __name__ == "__main__":
    main()
