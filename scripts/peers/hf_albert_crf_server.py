"""The serving peers of scripts/bench_serve.py: our saved model directory behind FastAPI + uvicorn, with HF
`AlbertModel` + `nn.Linear` + pytorch-crf, written as a Python user would write it (one request at a time,
one forward pass per text, under torch.no_grad()). PEER_RUNTIME picks what computes the emissions:
  torch             the HF modules in PyTorch (the default);
  onnxruntime-int8  the same modules exported at start-up with `torch.onnx.export` (dynamic batch and sequence
                    axes) and quantized with onnxruntime's `quantize_dynamic` (int8 weights, its defaults), run
                    by an onnxruntime InferenceSession with THREADS intra-op threads: what a Python user deploys
                    for CPU inference. The CRF decodes with pytorch-crf in both.

  MODEL_DIR=target/model THREADS=2 python -m uvicorn --app-dir scripts/peers hf_albert_crf_server:app --port 8081
POST /invocations {"inputs": "text"} or {"inputs": ["text", ...]} -> entities (text, type, start, end).
"""

import json
import os
import tempfile

import torch
from fastapi import FastAPI
from pydantic import BaseModel
from safetensors.torch import load_file
from torchcrf import CRF
from transformers import AlbertModel, BertTokenizer

MODEL_DIR = os.environ["MODEL_DIR"]
torch.set_num_threads(int(os.environ.get("THREADS", "2")))

albert = AlbertModel.from_pretrained(MODEL_DIR, add_pooling_layer=False).eval()
weights = load_file(os.path.join(MODEL_DIR, "model.safetensors"))
config = json.load(open(os.path.join(MODEL_DIR, "config.json")))
labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
classifier = torch.nn.Linear(albert.config.hidden_size, len(labels)).eval()
classifier.load_state_dict({"weight": weights["classifier.weight"], "bias": weights["classifier.bias"]})
crf = CRF(len(labels), batch_first=True).eval()
crf.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("crf.")})
tokenizer = BertTokenizer(os.path.join(MODEL_DIR, "vocab.txt"))


class Emissions(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.albert, self.classifier = albert, classifier

    def forward(self, ids):
        return self.classifier(self.albert(ids).last_hidden_state)


def onnxruntime_int8():
    """The emissions network as an onnxruntime int8 session: export, quantize, load."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = tempfile.mkdtemp(prefix="peer-onnx-")
    fp32, int8 = os.path.join(work, "emissions.onnx"), os.path.join(work, "emissions.int8.onnx")
    example = torch.tensor([tokenizer.convert_tokens_to_ids(["[CLS]", "北", "京", "[SEP]"])])
    torch.onnx.export(Emissions().eval(), (example,), fp32, dynamo=False, opset_version=17,
                      input_names=["input_ids"], output_names=["emissions"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "emissions": {0: "batch", 1: "sequence"}})
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("THREADS", "2"))
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(int8, options, providers=["CPUExecutionProvider"])
    return lambda ids: torch.from_numpy(session.run(None, {"input_ids": ids.numpy()})[0])


RUNTIME = os.environ.get("PEER_RUNTIME", "torch")
if RUNTIME == "torch":
    emissions_of = Emissions().eval()
elif RUNTIME == "onnxruntime-int8":
    emissions_of = onnxruntime_int8()
else:
    raise SystemExit(f"PEER_RUNTIME={RUNTIME!r}: expected torch or onnxruntime-int8")

app = FastAPI()


class Request(BaseModel):
    inputs: str | list[str]


def entities(text, tags):
    found, start = [], None
    for i, tag in enumerate(tags + ["O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == tags[start][2:]):
            found.append({"text": text[start:i], "type": tags[start][2:], "start": start, "end": i})
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start = i
    return found


def tag(text):
    chars = list(text.lower())[:510]  # the model's 512 positions, [CLS] and [SEP] included
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(["[CLS]", *chars, "[SEP]"])])
    with torch.no_grad():
        emissions = emissions_of(ids)[:, 1:-1]
        path = crf.decode(emissions)[0]
    return entities(text[: len(chars)], [labels[t] for t in path])


@app.get("/ping")
def ping():
    return {}


@app.post("/invocations")
def invocations(request: Request):
    if isinstance(request.inputs, str):
        return tag(request.inputs)
    return [tag(t) for t in request.inputs]
