"""torch's own dynamic int8 quantization of a tagger a Rust test saved: the reference for
crates/albert-model/tests/inference_weights.rs.

usage: int8_reference.py MODEL_DIR IN.safetensors OUT.safetensors
MODEL_DIR is an ALBERT or BERT tagger in HF's layout; transformers loads it as
`AutoModelForTokenClassification` (encoder + `classifier`, the CRF ignored), and
`torch.ao.quantization.quantize_dynamic` replaces every nn.Linear with its int8 module under
`per_channel_dynamic_qconfig` (one weight scale per output row). IN holds `input_ids` and `attention_mask`
[B, T]; OUT gets `fp32` and `int8`, the classifier's logits [B, T, K] of the float and the quantized model.
"""
import sys
import warnings

import torch
from safetensors.torch import load_file, save_file
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from transformers import AutoModelForTokenClassification

warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.ao.quantization's notice
model = AutoModelForTokenClassification.from_pretrained(sys.argv[1]).eval()
quantized = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
n_quantized = sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in quantized.modules())
assert n_quantized > 0, "quantize_dynamic replaced no layer"
batch = load_file(sys.argv[2])
with torch.no_grad():
    inputs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    fp32 = model(**inputs).logits
    int8 = quantized(**inputs).logits
save_file({"fp32": fp32.contiguous(), "int8": int8.contiguous()}, sys.argv[3])
