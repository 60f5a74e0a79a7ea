#!/usr/bin/env python3
"""Throughput and memory of albert-ner against the Python peer (HF AlbertModel + pytorch-crf; with
--encoder bert, HF BertModel + pytorch-crf: scripts/peers/hf_bert_crf.py), measured in the same run,
alternating the two so machine load hits both alike. Prints medians and ratios.

Usage: scripts/bench.py [--shared ../shared] [--reps 3] [--configs tiny,base] [--batches 16,64] [--quick]
                        [--encoder albert|bert] [--only train|real|viterbi] [--device cpu|cuda] [--ours BIN]
                        [--python PY] [--time-budget SECONDS]
Needs `make build` (target/release/bench) and the project venv (torch, transformers, pytorch-crf); on a GPU
machine scripts/gpu-check.sh passes its own binary, interpreter and --device cuda.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
OURS = os.path.join(ROOT, "target", "release", "bench")


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def compare(title, ours_cmd, peer_cmd, reps, keys, deadline=None):
    """`reps` alternating runs of each, or fewer where `deadline` (time.monotonic()) would fall before another
    pair of runs as long as the longest so far ended; one pair always runs."""
    ours, peer = [], []
    longest = 0.0
    for i in range(reps):
        if i and deadline is not None and time.monotonic() + longest > deadline:
            break
        start = time.monotonic()
        ours.append(run_json(ours_cmd))
        peer.append(run_json(peer_cmd))
        longest = max(longest, time.monotonic() - start)
    cut = f"; {reps - len(ours)} of {reps} cut by --time-budget" if len(ours) < reps else ""
    print(f"\n{title}  (median of {len(ours)}{cut})")
    print(f"  {'figure':28s} {'albert-ner':>12s} {'peer':>12s} {'ratio':>8s}")
    result = {}
    for key, better in keys:
        o, p = median(ours, key), median(peer, key)
        ratio = (o / p if better == "higher" else p / o) if p and o else float("nan")
        print(f"  {key:28s} {o:12.2f} {p:12.2f} {ratio:7.2f}x")
        result[key] = {"ours": o, "peer": p, "ratio": ratio}
    return result


def peer_args(common, peer_cfg):
    """`common` with the peer's config file in place of the config name."""
    out = list(common)
    out[out.index("--config") + 1] = peer_cfg
    return out


def config_path(cfg, encoder):
    """The committed config `cfg` (tiny, base) of the encoder's family, the file our `bench` reads."""
    return os.path.join(ROOT, "albert_config", f"{encoder}_config_{cfg}.json")


def model_config(cfg, encoder):
    """The committed config `cfg` of the encoder's family as a dict."""
    with open(config_path(cfg, encoder)) as f:
        return json.load(f)


def peer_config(cfg, encoder, workdir):
    """The peer's config file for `cfg`. BERT's is the file we read: HF and ours both read its "gelu" as the erf
    form. ALBERT's is the same albert_zh JSON with its activation spelt the way HF reads it: albert_zh's "gelu" is
    TF BERT's tanh approximation (our parser maps it to gelu_new); HF would read "gelu" as the erf form, a cheaper
    function than the one we compute, so the comparison would not be equal."""
    if encoder == "bert":
        return config_path(cfg, encoder)
    c = model_config(cfg, encoder)
    if c.get("hidden_act") == "gelu":
        c["hidden_act"] = "gelu_new"
    path = os.path.join(workdir, f"peer_albert_config_{cfg}.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def peer_command(a):
    """The interpreter and script of the encoder's peer."""
    if a.encoder == "bert":
        return [a.python, os.path.join(ROOT, "scripts", "peers", "hf_bert_crf.py"), "--shared", a.shared]
    return [a.python, os.path.join(a.shared, "bench", "peers", "hf_albert_crf.py")]


def fixed_length_test_file(workdir, n, length):
    """Sentences of exactly `length` random CJK characters for the peer to decode. Without a test file it decodes
    its own 20-100 character sentences, trimmed to each batch's longest, while ours decode `length`: not the
    same shapes."""
    rng = random.Random(7)
    path = os.path.join(workdir, f"fixed_{length}.txt")
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            f.write("".join(f"{chr(0x4E00 + rng.randrange(3000))} O\n" for _ in range(length)) + "\n")
    return path


def train_flops_per_sample(cfg, encoder, seq_len, labels=7):
    """Matrix-product FLOPs of one training sample at a fixed length: forward (ALBERT's embedding projection,
    every layer's Q/K/V/output and feed-forward products, attention scores and mixing, classifier) times 3 for
    the backward pass, the usual estimate."""
    c = model_config(cfg, encoder)
    h, i, n = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    projection = 2 * c["embedding_size"] * h if "embedding_size" in c else 0
    per_token = projection + n * (2 * (4 * h * h + 2 * h * i) + 4 * seq_len * h) + 2 * h * labels
    return 3 * per_token * seq_len


def matmul_gflops(cfg, encoder, batch, seq_len, threads, py):
    """The best fp32 matrix-product rate libtorch reaches on this machine at the model's layer shapes
    (Q/K/V, feed-forward in and out): the fastest of 20 repetitions, the fastest shape."""
    c = model_config(cfg, encoder)
    m, h, i = batch * seq_len, c["hidden_size"], c["intermediate_size"]
    code = f"""
import time, torch
torch.set_num_threads({threads})
best = 0.0
for k, n in (({h}, {3 * h}), ({h}, {i}), ({i}, {h})):
    a, b = torch.randn({m}, k), torch.randn(k, n)
    for _ in range(3): a @ b
    for _ in range(20):
        t = time.perf_counter(); a @ b; best = max(best, 2 * {m} * k * n / (time.perf_counter() - t) / 1e9)
print(best)
"""
    return float(subprocess.run([py, "-c", code], check=True, capture_output=True, text=True).stdout)


def print_ceiling(cfg, encoder, batch, threads, figures, py):
    """Both tools' training rate as a share of what this machine's CPU matrix products allow: at a fixed
    length the two run the same products, so this bounds any speed-up."""
    flops = train_flops_per_sample(cfg, encoder, 128)
    peak = matmul_gflops(cfg, encoder, batch, 128, threads, py)
    print(f"  ceiling: ~{flops / 1e9:.2f} GFLOP per sample; best fp32 matmul here {peak:.0f} GFLOP/s "
          f"-> at most {peak * 1e9 / flops:.1f} samples/s if nothing else took any time")
    for tool in ("ours", "peer"):
        rate = figures["train_samples_per_s"][tool]
        print(f"  {tool}: {rate * flops / 1e9:.0f} GFLOP/s, {rate * flops / 1e9 / peak:.0%} of the matmul rate")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny only, fewer steps")
    ap.add_argument("--configs", default="tiny,base", help="comma-separated: tiny,base")
    ap.add_argument("--batches", default="16,64", help="comma-separated batch sizes")
    ap.add_argument("--only", choices=["train", "real", "viterbi"])
    ap.add_argument("--json-out")
    ap.add_argument("--device", default="cpu", help="cpu or cuda, for both tools")
    ap.add_argument("--encoder", default="albert", choices=["albert", "bert"],
                    help="the transformer both tools train, from albert_config/{encoder}_config_{cfg}.json")
    ap.add_argument("--ours", default=OURS, help="our bench binary")
    ap.add_argument("--python", default=PY, help="the interpreter that runs the peer")
    ap.add_argument("--time-budget", type=float,
                    help="seconds: start no repetition that would end past this, judged by the longest so far")
    a = ap.parse_args()
    deadline = time.monotonic() + a.time_budget if a.time_budget else None
    albert_peer = os.path.join(a.shared, "bench", "peers", "hf_albert_crf.py")
    if not os.path.exists(albert_peer):
        sys.exit(f"bench: the peer {albert_peer} is missing (pass --shared DIR)")
    peer = peer_command(a)
    msra = os.path.join(a.shared, "datasets", "msra", "train.txt")
    configs = ["tiny"] if a.quick else a.configs.split(",")
    results = {}
    train_keys = [("train_samples_per_s", "higher"), ("step_ms_median", "lower"),
                  ("infer_sents_per_s", "higher"), ("peak_rss_mb", "lower")]
    workdir = tempfile.mkdtemp(prefix="albert-ner-bench-")
    fixed_test = fixed_length_test_file(workdir, 256, 126)
    for cfg in configs:
        peer_cfg = peer_config(cfg, a.encoder, workdir)
        steps, warm = (20, 3) if cfg == "tiny" else (4, 1)
        if a.quick:
            steps = 8
        for batch in [int(b) for b in a.batches.split(",")]:
            if a.only in (None, "train"):
                common = ["--config", cfg, "--batch", str(batch), "--seq-len", "128", "--threads", str(a.threads),
                          "--warmup", str(warm), "--steps", str(steps), "--infer-sents", "256",
                          "--device", a.device]
                ours = [a.ours, "--encoder", a.encoder, *common]
                results[f"{a.encoder}/{cfg}/b{batch}/fixed128"] = compare(
                    f"train+decode {a.encoder} {cfg} batch {batch} seq 128 (fixed length, {a.device})",
                    [*ours, "--lengths", "fixed"],
                    [*peer, "--mode", "bench", *peer_args(common, peer_cfg), "--test", fixed_test],
                    a.reps, train_keys, deadline)
                if a.device == "cpu":
                    fixed = results[f"{a.encoder}/{cfg}/b{batch}/fixed128"]
                    print_ceiling(cfg, a.encoder, batch, a.threads, fixed, a.python)
            if a.only in (None, "real") and os.path.exists(msra):
                common = ["--config", cfg, "--batch", str(batch), "--seq-len", "128", "--threads", str(a.threads),
                          "--warmup", str(warm), "--steps", str(steps), "--infer-sents", "256",
                          "--device", a.device]
                ours = [a.ours, "--encoder", a.encoder, *common]
                results[f"{a.encoder}/{cfg}/b{batch}/msra"] = compare(
                    f"train+decode {a.encoder} {cfg} batch {batch} on MSRA's real lengths "
                    "(ours bucketed, peer padded to 128)",
                    [*ours, "--lengths", "real", "--data", msra],
                    [*peer, "--mode", "bench", *peer_args(common, peer_cfg), "--train", msra],
                    a.reps, train_keys, deadline)
    if a.only in (None, "viterbi"):
        crf_ours = os.path.join(ROOT, "target", "release", "examples", "crf_bench")
        crf_peer = os.path.join(ROOT, "crates", "albert-model", "fixtures", "crf", "bench_pytorch_crf.py")
        if os.path.exists(crf_ours) and os.path.exists(crf_peer):
            print("\nViterbi decode (CRF alone): ours")
            print(subprocess.run([crf_ours], capture_output=True, text=True, cwd=ROOT).stdout)
            print("pytorch-crf")
            print(subprocess.run([a.python, crf_peer], capture_output=True, text=True, cwd=ROOT).stdout)
        else:
            print("\n(viterbi: build the example with `cargo build --release --example crf_bench -p albert-model`)")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
