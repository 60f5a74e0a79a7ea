"""transformers' BertModel on a model directory a Rust test saved: the reference for
crates/albert-model/tests/bert.rs.

usage: bert_reference.py MODEL_DIR IN.safetensors OUT.safetensors
IN holds `input_ids` and `attention_mask` [B, T]; OUT gets `hidden` [B, T, H], BertModel's last hidden state
(loaded with from_pretrained, as a user would: `bert.` prefix stripped, the tagger's own layers ignored).
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import BertModel

model = BertModel.from_pretrained(sys.argv[1], add_pooling_layer=False)
model.eval()
batch = load_file(sys.argv[2])
with torch.no_grad():
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
save_file({"hidden": out.last_hidden_state.contiguous()}, sys.argv[3])
