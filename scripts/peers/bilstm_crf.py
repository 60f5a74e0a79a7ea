#!/usr/bin/env python3
"""The BiLSTM-CRF peer: a character BiLSTM-CRF written as a PyTorch user writes one (nn.Embedding,
nn.LSTM over pack_padded_sequence, nn.Linear, torchcrf.CRF, AdamW), over the same vocabulary as albert-ner.

--mode train: trains for --time-budget seconds (random batches, constant learning rate, no dev selection),
  then tags --test and writes `char TAG` predictions to --predictions.
--mode bench: training samples/s over --steps batches of --train's real sentences, then tagging
  sentences/s over --infer-sents of --test's, and peak RSS.
Prints one JSON line (also appended to --json-out).
"""
import argparse
import json
import random
import resource
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF


def read_sentences(path):
    """`char TAG` lines, a blank line between sentences."""
    sentences, chars, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                if chars:
                    sentences.append((chars, tags))
                    chars, tags = [], []
                continue
            chars.append(parts[0] if len(parts) > 1 else " ")
            tags.append(parts[-1])
    if chars:
        sentences.append((chars, tags))
    return sentences


def load_vocab(path):
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


class BiLstmCrf(nn.Module):
    def __init__(self, vocab_size, num_tags, emb_dim, hidden, layers, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(emb_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.classifier = nn.Linear(2 * hidden, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    def emissions(self, ids, lengths):
        x = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return self.classifier(self.dropout(out))

    def loss(self, ids, lengths, tags, mask):
        return -self.crf(self.emissions(ids, lengths), tags, mask=mask, reduction="mean")

    def decode(self, ids, lengths, mask):
        return self.crf.decode(self.emissions(ids, lengths), mask=mask)


def encode(batch, vocab, tag_ids):
    unk = vocab["[UNK]"]
    lengths = torch.tensor([len(c) for c, _ in batch])
    width = int(lengths.max())
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    tags = torch.zeros(len(batch), width, dtype=torch.long)
    for row, (chars, labels) in enumerate(batch):
        ids[row, : len(chars)] = torch.tensor([vocab.get(c.lower(), vocab.get(c, unk)) for c in chars])
        tags[row, : len(labels)] = torch.tensor([tag_ids.get(t, 0) for t in labels])
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)
    return ids, lengths, tags, mask


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tag_all(model, sentences, vocab, tag_ids, batch):
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(sentences), batch):
            chunk = sentences[i: i + batch]
            ids, lengths, _, mask = encode(chunk, vocab, tag_ids)
            out.extend(model.decode(ids, lengths, mask))
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["train", "bench"], required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--predictions", help="train: write `char TAG` predictions of --test here")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--infer-batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--emb-dim", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--time-budget", type=float, default=1800)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--infer-sents", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json-out")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    vocab = load_vocab(a.vocab)
    train = read_sentences(a.train)
    test = read_sentences(a.test)
    tag_names = sorted({t for _, tags in train for t in tags})
    tag_ids = {t: i for i, t in enumerate(tag_names)}
    model = BiLstmCrf(len(vocab), len(tag_names), a.emb_dim, a.hidden, a.layers, a.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)

    def batches():
        order = list(range(len(train)))
        while True:
            rng.shuffle(order)
            for i in range(0, len(order) - a.batch + 1, a.batch):
                yield [train[j] for j in order[i: i + a.batch]]

    def step(batch):
        ids, lengths, tags, mask = encode(batch, vocab, tag_ids)
        loss = model.loss(ids, lengths, tags, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        return float(loss.detach())

    result = dict(tool="pytorch_bilstm_crf", mode=a.mode, torch=torch.__version__, threads=a.threads,
                  batch=a.batch, emb_dim=a.emb_dim, hidden=a.hidden, layers=a.layers, lr=a.lr,
                  params=sum(p.numel() for p in model.parameters()))
    it = batches()
    if a.mode == "bench":
        for _ in range(a.warmup):
            step(next(it))
        started = time.perf_counter()
        for _ in range(a.steps):
            step(next(it))
        train_s = time.perf_counter() - started
        infer = test[: a.infer_sents]
        tag_all(model, infer[: a.infer_batch], vocab, tag_ids, a.infer_batch)
        started = time.perf_counter()
        tag_all(model, infer, vocab, tag_ids, a.infer_batch)
        infer_s = time.perf_counter() - started
        result.update(steps=a.steps, train_s=round(train_s, 3),
                      train_samples_per_s=round(a.steps * a.batch / train_s, 2),
                      infer_sents=len(infer), infer_s=round(infer_s, 3),
                      infer_sents_per_s=round(len(infer) / infer_s, 2))
    else:
        started = time.perf_counter()
        steps = 0
        while time.perf_counter() - started < a.time_budget:
            loss = step(next(it))
            steps += 1
            if steps % 500 == 0:
                print(json.dumps(dict(step=steps, t=round(time.perf_counter() - started, 1), loss=round(loss, 3))),
                      flush=True)
        train_s = time.perf_counter() - started
        predicted = tag_all(model, test, vocab, tag_ids, a.infer_batch)
        with open(a.predictions, "w", encoding="utf-8") as f:
            for (chars, _), tags in zip(test, predicted):
                for c, t in zip(chars, tags):
                    f.write(f"{c} {tag_names[t]}\n")
                f.write("\n")
        result.update(train_steps=steps, train_s=round(train_s, 1),
                      train_samples_per_s=round(steps * a.batch / train_s, 2))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    line = json.dumps(result)
    print(line, flush=True)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
