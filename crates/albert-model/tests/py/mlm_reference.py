"""transformers' AutoModelForMaskedLM on a pre-trained encoder directory a Rust test saved: the reference
for crates/albert-model/tests/masked_lm.rs.

usage: mlm_reference.py MODEL_DIR IN.safetensors OUT.safetensors
IN holds `input_ids`, `attention_mask` and `labels` [B, T] (-100 where nothing is predicted). OUT gets
`loss` (HF's masked-LM loss) and `logits` [B, T, V]. Fails unless the directory loads as the
`*ForMaskedLM` its config names with nothing missing but the decoder tied to the word embeddings.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForMaskedLM

config = AutoConfig.from_pretrained(sys.argv[1])
model, info = AutoModelForMaskedLM.from_pretrained(sys.argv[1], output_loading_info=True)
assert type(model).__name__ == config.architectures[0], (type(model).__name__, config.architectures)
missing = [k for k in info["missing_keys"] if not k.endswith("decoder.weight") and not k.endswith("decoder.bias")]
assert not missing and not info["unexpected_keys"] and not info["mismatched_keys"], info
model.eval()
batch = load_file(sys.argv[2])
with torch.no_grad():
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
save_file({"loss": out.loss.reshape(1).contiguous(), "logits": out.logits.contiguous()}, sys.argv[3])
