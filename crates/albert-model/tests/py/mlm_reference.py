"""transformers' masked LM on a pre-trained encoder directory a Rust test saved: the reference for
crates/albert-model/tests/masked_lm.rs.

usage: mlm_reference.py MODEL_DIR IN.safetensors OUT.safetensors
IN holds `input_ids`, `attention_mask` and `labels` [B, T] (-100 where nothing is predicted), and for an
`AlbertForPreTraining` directory `token_type_ids` [B, T] and `sentence_order_label` [B]. OUT gets `loss`
(HF's loss: the masked-LM loss, plus the sentence-order loss for AlbertForPreTraining) and `logits`
[B, T, V]; for AlbertForPreTraining also `sop_logits` [B, 2] and `sop_loss`. Fails unless the directory
loads as the class its config names with nothing missing but the decoder tied to the word embeddings.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForPreTraining

config = AutoConfig.from_pretrained(sys.argv[1])
pretraining = config.architectures[0].endswith("ForPreTraining")
auto = AutoModelForPreTraining if pretraining else AutoModelForMaskedLM
model, info = auto.from_pretrained(sys.argv[1], output_loading_info=True)
assert type(model).__name__ == config.architectures[0], (type(model).__name__, config.architectures)
missing = [k for k in info["missing_keys"] if not k.endswith("decoder.weight") and not k.endswith("decoder.bias")]
assert not missing and not info["unexpected_keys"] and not info["mismatched_keys"], info
model.eval()
batch = load_file(sys.argv[2])
with torch.no_grad():
    out = model(**batch)
result = {"loss": out.loss.reshape(1).contiguous()}
if pretraining:
    result["logits"] = out.prediction_logits.contiguous()
    result["sop_logits"] = out.sop_logits.contiguous()
    sop = torch.nn.functional.cross_entropy(out.sop_logits, batch["sentence_order_label"], ignore_index=-100)
    result["sop_loss"] = sop.reshape(1).contiguous()
else:
    result["logits"] = out.logits.contiguous()
save_file(result, sys.argv[3])
