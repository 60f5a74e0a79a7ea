#!/usr/bin/env python3
"""The pre-training peer: transformers' AlbertForMaskedLM (or BertForMaskedLM) trained on raw text as a Python user
writes it after HF's run_mlm: BertTokenizerFast over the same vocabulary, the text tokenized line by line and
grouped into blocks of --seq-len (run_mlm's group_texts, [CLS] and [SEP] added), whole-word masking by
DataCollatorForLanguageModeling(whole_word_mask=True, mlm_probability=0.15) with jieba's words as the words
(each line segmented and re-joined with spaces, so the tokenizer's offsets mark word boundaries), a shuffled
DataLoader, AdamW and a linear schedule.

Prints one JSON line: training samples/s over --steps after --warmup steps, peak RSS.

  python scripts/peers/hf_mlm.py --config albert_config/albert_config_tiny.json --text corpus.txt --batch 32
"""
import argparse
import json
import os
import resource
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def model_for(config_path, family):
    from transformers import AlbertConfig, AlbertForMaskedLM, BertConfig, BertForMaskedLM
    with open(config_path) as f:
        raw = json.load(f)
    if family == "bert":
        return BertForMaskedLM(BertConfig(**raw))
    if raw.get("hidden_act") == "gelu":
        raw["hidden_act"] = "gelu_new"  # albert_zh's "gelu" is the tanh form, as ours reads it
    return AlbertForMaskedLM(AlbertConfig(**raw))


def blocks(lines, tokenizer, seq_len, segment):
    """run_mlm's group_texts: every line's pieces and offsets concatenated, cut into blocks of seq_len - 2."""
    ids, offsets, base = [], [], 0
    for line in lines:
        text = " ".join(segment(line))
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids.extend(enc["input_ids"])
        offsets.extend((base + s, base + e) for s, e in enc["offset_mapping"])
        base += len(text) + 1  # a gap: the next line starts a new word
    n = seq_len - 2
    out = []
    for start in range(0, len(ids) - n + 1, n):
        block_offsets = offsets[start:start + n]
        out.append({
            "input_ids": [tokenizer.cls_token_id] + ids[start:start + n] + [tokenizer.sep_token_id],
            "offset_mapping": [(0, 0)] + block_offsets + [(0, 0)],
            "special_tokens_mask": [1] + [0] * n + [1],
        })
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--family", choices=["albert", "bert"], default="albert")
    ap.add_argument("--vocab", default=os.path.join(ROOT, "albert_config", "vocab.txt"))
    ap.add_argument("--text", required=True, help="raw text, one line per document or sentence")
    ap.add_argument("--max-lines", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    from transformers import BertTokenizerFast, DataCollatorForLanguageModeling, get_linear_schedule_with_warmup
    try:
        import jieba
        jieba.setLogLevel(60)
        segment, words = (lambda line: jieba.lcut(line)), "jieba"
    except ImportError:
        segment, words = (lambda line: list(line)), "characters (jieba not installed)"
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tokenizer = BertTokenizerFast(vocab_file=a.vocab, do_lower_case=True)
    started = time.perf_counter()
    with open(a.text, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip()]
    if a.max_lines:
        lines = lines[:a.max_lines]
    examples = blocks(lines, tokenizer, a.seq_len, segment)
    data_s = time.perf_counter() - started
    collator = DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, mlm_probability=0.15, seed=a.seed)
    loader = torch.utils.data.DataLoader(examples, batch_size=a.batch, shuffle=True, collate_fn=collator,
                                         drop_last=True)
    dev = torch.device(a.device)
    model = model_for(a.config, a.family).to(dev)
    model.train()
    total = a.warmup + a.steps
    no_decay = [p for n, p in model.named_parameters() if p.ndim == 1]
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * total), total)
    step, losses, times = 0, [], []
    while step < total:
        for batch in loader:
            if step == a.warmup:
                t0 = time.perf_counter()
            ts = time.perf_counter()
            batch = {k: v.to(dev) for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
            loss = model(**batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if step >= a.warmup:
                times.append(time.perf_counter() - ts)
            step += 1
            if step == total:
                break
    train_s = time.perf_counter() - t0
    print(json.dumps({
        "tool": "hf_mlm", "family": a.family, "words": words, "sequences": len(examples), "data_load_s": data_s,
        "batch": a.batch, "seq_len": a.seq_len, "steps": a.steps, "train_s": train_s,
        "train_samples_per_s": a.batch * a.steps / train_s,
        "step_ms_median": 1000 * sorted(times)[len(times) // 2],
        "loss_first": losses[0], "loss_last": losses[-1],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


if __name__ == "__main__":
    main()
