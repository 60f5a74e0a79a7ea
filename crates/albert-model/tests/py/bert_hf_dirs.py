"""HF BERT model directories as users download them, with the reference hidden states: the inputs of
crates/albert-model/tests/bert.rs's pretrained-loading test.

usage: bert_hf_dirs.py OUT_DIR IN.safetensors
IN holds `input_ids` and `attention_mask` [B, T]. Writes OUT_DIR/{bert_model, masked_lm, pretraining,
token_cls} (BertModel with its pooler, BertForMaskedLM, BertForPreTraining as pytorch_model.bin,
BertForTokenClassification; every weight moved off its initial value) and OUT_DIR/hidden.safetensors:
each model's BertModel last hidden state on IN.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import (BertConfig, BertForMaskedLM, BertForPreTraining, BertForTokenClassification,
                          BertModel)

out = sys.argv[1]
batch = load_file(sys.argv[2])
config = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=24, max_position_embeddings=20, num_labels=3)
hidden = {}
for seed, (name, cls, safetensors) in enumerate([
        ("bert_model", BertModel, True),
        ("masked_lm", BertForMaskedLM, True),
        ("pretraining", BertForPreTraining, False),
        ("token_cls", BertForTokenClassification, True)]):
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(f"{out}/{name}", safe_serialization=safetensors)
    base = model if cls is BertModel else model.bert
    with torch.no_grad():
        state = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    hidden[name] = state.contiguous()
save_file(hidden, f"{out}/hidden.safetensors")
