#!/usr/bin/env python3
"""Draws the small MSRA sample committed under local_test/test_dir/input/data/ (run by hand, stdlib only).

Usage: scripts/make-sample.py ../shared/datasets/msra
Deterministic: a seeded sample of whole sentences from train.txt, dev.txt and test.txt.
"""
import os
import random
import sys

SIZES = {"train.txt": ("training", 2500), "dev.txt": ("validation", 300), "test.txt": ("test", 300)}


def blocks(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [b for b in text.split("\n\n") if b.strip()]


def main():
    src = sys.argv[1]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "local_test", "test_dir", "input", "data")
    rng = random.Random(20261122)
    for name, (channel, n) in SIZES.items():
        sents = blocks(os.path.join(src, name))
        pick = sorted(rng.sample(range(len(sents)), n))
        os.makedirs(os.path.join(out, channel), exist_ok=True)
        with open(os.path.join(out, channel, name), "w", encoding="utf-8") as f:
            f.write("\n\n".join(sents[i].strip("\n") for i in pick) + "\n")


if __name__ == "__main__":
    main()
