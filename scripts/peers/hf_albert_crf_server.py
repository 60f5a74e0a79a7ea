"""The serving peer of scripts/bench_serve.py: our saved model directory behind FastAPI + uvicorn, with HF
`AlbertModel` + `nn.Linear` + pytorch-crf, written as a Python user would write it (one request at a time,
one forward pass per text, under torch.no_grad()).

  MODEL_DIR=target/model THREADS=2 python -m uvicorn --app-dir scripts/peers hf_albert_crf_server:app --port 8081
POST /invocations {"inputs": "text"} or {"inputs": ["text", ...]} -> entities (text, type, start, end).
"""

import json
import os

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
        emissions = classifier(albert(ids).last_hidden_state[:, 1:-1])
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
