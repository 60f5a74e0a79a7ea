#!/usr/bin/env python3
"""The BERT peer: the shared ALBERT peer (shared/bench/peers/hf_albert_crf.py: data, optimiser, bench and train
modes, timing, RSS) with transformers' BertModel in its place, read from the same BERT config file ours reads
(HF reads TF BERT's "gelu" as the erf form, as ours does for BERT). Every flag is the ALBERT peer's, plus:

  --shared DIR   where shared/ is (default: $ALBERT_NER_SHARED, else ../shared beside the repository)

Example:
  python scripts/peers/hf_bert_crf.py --mode bench --config albert_config/bert_config_base.json --batch 16 \
      --train ../shared/datasets/msra/train.txt
"""
import argparse
import json
import os
import sys

from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def albert_peer(shared):
    """The shared ALBERT peer as a module."""
    sys.path.insert(0, os.path.join(shared, "bench", "peers"))
    import hf_albert_crf
    return hf_albert_crf


def bert_config(path):
    """The BERT config file as transformers reads it, dropout included: ours trains with the same file's
    dropout (the ALBERT peer's zero dropout matches albert_zh's configs, whose dropout is zero)."""
    from transformers import BertConfig
    with open(path) as f:
        cfg = json.load(f)
    return BertConfig(**cfg)


class BertCrf(nn.Module):
    """BertModel + Linear + pytorch-crf, with the ALBERT peer's emissions, loss and decode."""

    def __init__(self, cfg, num_tags, attn="sdpa"):
        super().__init__()
        from transformers import BertModel
        from torchcrf import CRF
        cfg._attn_implementation = attn
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.proj = nn.Linear(cfg.hidden_size, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    def emissions(self, ids, att):
        h = self.bert(input_ids=ids, attention_mask=att).last_hidden_state
        return self.proj(h[:, 1:, :])  # drop [CLS]; positions 1.. align with the labels

    def loss(self, ids, att, lab, crf_mask):
        return -self.crf(self.emissions(ids, att), lab, mask=crf_mask, reduction="mean")

    def decode(self, ids, att, crf_mask):
        return self.crf.decode(self.emissions(ids, att), mask=crf_mask)


def main():
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--shared", default=os.environ.get("ALBERT_NER_SHARED", os.path.join(ROOT, "..", "shared")))
    known, rest = pre.parse_known_args()
    peer = albert_peer(known.shared)
    peer.load_config = bert_config
    peer.AlbertCrf = BertCrf
    sys.argv = [sys.argv[0], *rest]
    peer.main()


if __name__ == "__main__":
    main()
