"""torch.nn.LSTM over pack_padded_sequence on the weights and inputs a Rust test wrote: the reference for
crates/albert-model/tests/bilstm.rs.

usage: lstm_reference.py IN.safetensors OUT.safetensors
IN holds `lstm.*` (nn.LSTM's state_dict names under `lstm.`), `input` [B, T, I] and `lengths` [B]; OUT gets
`output` [B, T, 2H] (zeros past each row's length).
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

tensors = load_file(sys.argv[1])
state = {k[len("lstm."):]: v for k, v in tensors.items() if k.startswith("lstm.")}
layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in state)
hidden, input_size = state["weight_hh_l0"].shape[1], state["weight_ih_l0"].shape[1]
lstm = torch.nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True, batch_first=True)
lstm.load_state_dict(state)
lstm.eval()
x, lengths = tensors["input"], tensors["lengths"]
with torch.no_grad():
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
save_file({"output": out.contiguous()}, sys.argv[2])
