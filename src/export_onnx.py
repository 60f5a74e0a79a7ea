"""`export --format onnx`'s Python step (the binary carries this file and runs it): converts the
emissions network that `export` traced into TorchScript to ONNX with torch's TorchScript-based exporter
(libtorch's C++ API has no ONNX exporter), with the batch and sequence axes dynamic.

Usage: python export_onnx.py TRACED.pt OUT.onnx OPSET EXAMPLE_IDS_JSON PAD_ID
"""

import hashlib
import json
import os
import sys

INPUTS = ["input_ids", "attention_mask"]
OUTPUT = "emissions"


def unflatten_symbolic(g, x, dim, sizes):
    """aten::unflatten as one Reshape whose target shape is a constant (0 keeps an input axis, -1 the one
    left): torch's own symbolic builds the shape at run time and leaves the result's rank unknown, which
    the attention's transpose that follows cannot export."""
    import torch
    from torch.onnx import symbolic_helper as sh

    rank = sh._get_tensor_rank(x)
    dim = sh._get_const(dim, "i", "dim")
    sizes = list(sh._get_const(sizes, "is", "sizes"))
    if rank is None or dim < 0 and dim + rank < 0:
        raise RuntimeError("unflatten of a tensor of unknown rank")
    dim = dim + rank if dim < 0 else dim
    if dim == 0 or 0 in sizes or -1 in sizes:
        return sh._unimplemented("unflatten", "only inner axes of known sizes", x)
    shape = [-1] + [0] * (dim - 1) + sizes + [0] * (rank - dim - 1)
    return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(shape, dtype=torch.int64)))


def weights_as_initializers(model):
    """Moves the traced network's weights from Constant nodes into the graph's initializers, one per
    distinct tensor. The trace holds every weight as a constant, and ALBERT's shared layer once per
    layer it runs as (an ALBERT-base file was 9x its safetensors); ONNX tools, onnxruntime's
    quantize_dynamic among them, quantize and fold initializers only."""
    from onnx import numpy_helper

    graph = model.graph
    first_by_value, renamed, kept = {}, {}, []
    for node in graph.node:
        attributes = [a.name for a in node.attribute]
        if node.op_type == "Constant" and attributes == ["value"] and node.attribute[0].t.dims:
            value = numpy_helper.to_array(node.attribute[0].t)
            key = (value.dtype.str, value.shape, hashlib.sha256(value.tobytes()).digest())
            name = node.output[0]
            if key in first_by_value:
                renamed[name] = first_by_value[key]
            else:
                first_by_value[key] = name
                graph.initializer.append(numpy_helper.from_array(value, name))
            continue
        node.input[:] = [renamed.get(name, name) for name in node.input]
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__.strip().splitlines()[-1])
    traced, out, opset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    example, pad = json.loads(sys.argv[4]), int(sys.argv[5])
    try:
        import onnx
        import torch
    except ImportError as e:
        sys.exit(
            f"{sys.executable} lacks the Python package {e.name!r}; the ONNX export needs torch and onnx "
            "(pip install torch onnx), or set ALBERT_NER_PYTHON to a Python that has them"
        )
    torch.onnx.register_custom_op_symbolic("aten::unflatten", unflatten_symbolic, 9)
    module = torch.jit.load(traced, map_location="cpu")
    ids = torch.tensor(example, dtype=torch.int64)
    mask = (ids != pad).to(torch.int64)
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in INPUTS}
    dynamic[OUTPUT] = {i: n for n, i in axes.items()}
    tmp = out + ".tmp"
    try:
        torch.onnx.export(
            module,
            (ids, mask),
            tmp,
            dynamo=False,
            opset_version=opset,
            input_names=INPUTS,
            output_names=[OUTPUT],
            dynamic_axes=dynamic,
        )
        model = onnx.load(tmp)
        weights_as_initializers(model)
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


if __name__ == "__main__":
    main()
