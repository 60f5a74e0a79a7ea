#!/usr/bin/env python3
"""Entity F1 by position in the sentence, and whether windowing costs anything past the first window.

The system we replace cut every sentence at 126 characters; we window long ones. This splits a job's test
predictions into entities of short sentences, of the first CUT characters of long ones and past CUT, then
tags the long sentences again with `predict`: whole (windowed, two overlaps) and with each tail after CUT as
a line of its own. If the tail-as-a-line score matches the windowed one, windowing loses nothing and a lower
F1 past CUT is the entities, not the merge.

Usage: scripts/f1_by_position.py --model-dir JOB/model --pred JOB/output/data/test_predictions.txt
                                 [--gold ../shared/datasets/msra/test.txt] [--shared ../shared] [--cut 126]
Needs `make build` (target/release/predict).
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICT = os.path.join(ROOT, "target", "release", "predict")


def prf(gold, pred):
    ok = len(gold & pred)
    p = ok / len(pred) if pred else 0.0
    r = ok / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"gold={len(gold):5d} pred={len(pred):5d} P={p:.3f} R={r:.3f} F1={f:.3f}"


def entities(tag_lists, keep, chunks):
    """(sentence, start, end, type) of every entity for which keep(sentence_length, start, end) holds."""
    return {(i, s, e, t) for i, tags in enumerate(tag_lists) for s, e, t in chunks(tags) if keep(len(tags), s, e)}


def tag_lines(model_dir, lines, *extra):
    out = subprocess.run([PREDICT, "--model-dir", model_dir, *extra], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return [[row.split(" ")[-1] for row in block.split("\n") if row] for block in out.split("\n\n") if block.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--gold")
    ap.add_argument("--pred", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--cut", type=int, default=126)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "bench", "peers"))
    from ner_eval import chunks, read_blocks

    gold = read_blocks(a.gold or os.path.join(a.shared, "datasets", "msra", "test.txt"))
    pred = read_blocks(a.pred)
    assert [len(s) for s in gold] == [len(s) for s in pred], "predictions do not align with the gold file"
    gtags, ptags = [[t for _, t in s] for s in gold], [[t for _, t in s] for s in pred]
    cut = a.cut
    for name, keep in [(f"sentences of at most {cut} chars", lambda n, s, e: n <= cut),
                       (f"long sentences, first {cut} chars", lambda n, s, e: n > cut and e <= cut),
                       (f"long sentences, ending past {cut}", lambda n, s, e: n > cut and e > cut)]:
        print(f"{name:40s} {prf(entities(gtags, keep, chunks), entities(ptags, keep, chunks))}")

    # Long sentences again, entities that start at least 16 characters past the cut (so a tail tagged on its
    # own still has some left context).
    long = [i for i, s in enumerate(gold) if len(s) > cut]
    texts = ["".join(c for c, _ in gold[i]) for i in long]
    if any(ch.isspace() for t in texts for ch in t):
        sys.exit("f1_by_position: a long sentence holds whitespace; its characters would not map one to one")
    late = lambda n, s, e: s >= cut + 16
    g = entities([gtags[i] for i in long], late, chunks)
    print(f"\nentities of long sentences starting at {cut + 16} or later, tagged again by `predict`:")
    for name, tags in [("whole sentence, overlap 32 (default)", tag_lines(a.model_dir, texts)),
                       ("whole sentence, overlap 63", tag_lines(a.model_dir, texts, "--window-stride", "63")),
                       (f"tail after {cut} as its own line",
                        [["O"] * cut + t for t in tag_lines(a.model_dir, [t[cut:] for t in texts])])]:
        print(f"  {name:38s} {prf(g, entities(tags, late, chunks))}")


if __name__ == "__main__":
    main()
