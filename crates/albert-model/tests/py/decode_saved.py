#!/usr/bin/env python
"""Decodes a batch with a model directory our Rust code saved, using only HF / pytorch-crf.

    python decode_saved.py MODEL_DIR INPUTS.safetensors OUT.safetensors

MODEL_DIR holds config.json, model.safetensors, vocab.txt as written by `albert_model::save_model`.
The encoder comes from `AlbertModel.from_pretrained` (so HF itself must accept our config and names),
the classifier from `classifier.*` and the CRF from `crf.*`. Writes `hidden` [B,T,H], `emissions`
[B,L,K] and `paths` [B,L] (padded with -1) for the Rust test to compare.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from torchcrf import CRF
from transformers import AlbertModel

model_dir, inputs_path, out_path = sys.argv[1:4]
model, info = AlbertModel.from_pretrained(model_dir, add_pooling_layer=False, output_loading_info=True)
assert not info["missing_keys"], f"HF found no value for {info['missing_keys']}"
unexpected = [k for k in info["unexpected_keys"] if not (k.startswith("classifier.") or k.startswith("crf."))]
assert not unexpected, f"HF did not know {unexpected}"
model.eval()

weights = load_file(f"{model_dir}/model.safetensors")
num_tags, hidden_size = weights["classifier.weight"].shape
classifier = torch.nn.Linear(hidden_size, num_tags)
classifier.load_state_dict({"weight": weights["classifier.weight"], "bias": weights["classifier.bias"]})
crf = CRF(num_tags, batch_first=True)
crf.load_state_dict({k[len("crf."):]: v for k, v in weights.items() if k.startswith("crf.")})
assert model.config.id2label[0] is not None

x = load_file(inputs_path)
mask = x["tag_mask"].bool()
with torch.no_grad():
    hidden = model(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).last_hidden_state
    index = x["tag_positions"].unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    emissions = classifier(hidden.gather(1, index))
    paths = crf.decode(emissions, mask)
padded = torch.full(mask.shape, -1, dtype=torch.int64)
for r, p in enumerate(paths):
    padded[r, : len(p)] = torch.tensor(p, dtype=torch.int64)
save_file({"hidden": hidden.contiguous(), "emissions": emissions.contiguous(), "paths": padded}, out_path)
