"""Tags windows with a network `export` wrote, as a user would: the network run by onnxruntime (ONNX) or
torch.jit.load (TorchScript), then a Viterbi in numpy over the tables of its manifest.

Usage: python export_decode.py MANIFEST_JSON WINDOWS_JSON
WINDOWS_JSON: a list of {"input_ids": [...], "tag_positions": [...]}, one window per sentence ([CLS] …
[SEP], unpadded). Prints one JSON list of tag names per window, in order. The windows are run in padded
batches of several sizes (so the dynamic batch and sequence axes are exercised), and the script fails
when the ONNX graph's axes are not the manifest's.
"""

import json
import os
import sys

import numpy as np


def network(export_dir, manifest):
    path = os.path.join(export_dir, manifest["file"])
    if manifest["format"] == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        declared = [(i["name"], i["shape"]) for i in manifest["inputs"] + manifest["outputs"]]
        graph = [(a.name, a.shape) for a in session.get_inputs() + session.get_outputs()]
        labels = len(manifest["labels"])
        expected = [(n, [labels if d == "labels" else d for d in s]) for n, s in declared]
        if graph != expected:
            sys.exit(f"ONNX axes {graph} are not the manifest's {expected}")
        names = [i["name"] for i in manifest["inputs"]]
        return lambda ids, mask: session.run(None, dict(zip(names, (ids, mask))))[0]
    import torch

    module = torch.jit.load(path)
    with torch.no_grad():
        return lambda ids, mask: module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


def tables(decode):
    """start, end, transitions as predict decodes with them: forbidden entries at forbidden_score."""
    f32 = lambda x: np.asarray(x, dtype=np.float32)
    forbidden = np.float32(decode["forbidden_score"])
    start = np.where(decode["allowed_start"], f32(decode["start_transitions"]), forbidden)
    end = np.where(decode["allowed_end"], f32(decode["end_transitions"]), forbidden)
    transitions = np.where(decode["allowed"], f32(decode["transitions"]), forbidden)
    return start, end, transitions


def viterbi(scores, start, end, transitions):
    """The best path through scores [L, K]; ties go to the lowest tag, as in predict."""
    score = start + scores[0]
    back = []
    for emission in scores[1:]:
        candidates = score[:, None] + transitions
        back.append(candidates.argmax(0))
        score = candidates.max(0) + emission
    tag = int((score + end).argmax())
    path = [tag]
    for pointers in reversed(back):
        tag = int(pointers[tag])
        path.append(tag)
    return path[::-1]


def unit_scores(emissions, decode):
    if decode["scores"] == "log_softmax":
        shifted = emissions - emissions.max(-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return emissions


def main():
    manifest_json, windows_json = sys.argv[1], sys.argv[2]
    export_dir = os.path.dirname(manifest_json)
    with open(manifest_json, encoding="utf-8") as f:
        manifest = json.load(f)
    with open(windows_json, encoding="utf-8") as f:
        windows = json.load(f)
    run = network(export_dir, manifest)
    decode = manifest["decode"]
    start, end, transitions = tables(decode)
    pad = manifest["tokenizer"]["pad_id"]
    labels = manifest["labels"]
    tags = []
    at, sizes = 0, [1, 7, 16, 32]
    for n in range(len(windows)):
        if at >= len(windows):
            break
        batch = windows[at : at + sizes[n % len(sizes)]]
        width = max(len(w["input_ids"]) for w in batch)
        ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, w in enumerate(batch):
            ids[row, : len(w["input_ids"])] = w["input_ids"]
            mask[row, : len(w["input_ids"])] = 1
        emissions = run(ids, mask).astype(np.float32)
        for row, w in enumerate(batch):
            scores = unit_scores(emissions[row, w["tag_positions"]], decode)
            if decode["decoder"] == "viterbi":
                path = viterbi(scores, start, end, transitions)
            else:
                path = scores.argmax(-1).tolist()
            tags.append([labels[t] for t in path])
        at += len(batch)
    for t in tags:
        print(json.dumps(t))


if __name__ == "__main__":
    main()
