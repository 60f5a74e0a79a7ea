"""Quantizes an ONNX file `export` wrote as an onnxruntime user would (`quantize_dynamic`, its defaults,
int8 weights), and writes a manifest for the int8 file beside it, so that export_decode.py can tag with it.

Usage: python onnx_int8.py MANIFEST_JSON MODEL_SAFETENSORS OUT_DIR
Prints one JSON object: what the export holds (Constant nodes holding more than one value; the
initializers' bytes against the bytes of the tensors in MODEL_SAFETENSORS; initializers of two or more
dimensions whose values another one repeats) and how much of it was quantized (MatMul nodes with an
initializer weight before; after, MatMulInteger nodes and the MatMul/Gemm nodes still fed a float weight
of two or more dimensions, directly or through a Transpose/Reshape).
"""

import collections
import hashlib
import json
import os
import shutil
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic


def float_weights(graph):
    """Names of float initializers of two or more dimensions, and of what a Transpose/Reshape makes of one."""
    names = {
        t.name
        for t in graph.initializer
        if len(t.dims) >= 2 and t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    }
    for node in graph.node:
        if node.op_type in ("Transpose", "Reshape") and node.input[0] in names:
            names.update(node.output)
    return names


def safetensors_tensor_bytes(path):
    """The file's size less its 8-byte length and JSON header: the bytes of its tensors."""
    with open(path, "rb") as f:
        (header,) = struct.unpack("<Q", f.read(8))
    return os.path.getsize(path) - 8 - header


def main():
    manifest_json, safetensors, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(manifest_json, encoding="utf-8") as f:
        manifest = json.load(f)
    source = os.path.join(os.path.dirname(manifest_json), manifest["file"])
    model = onnx.load(source)
    initializers = {t.name: t for t in model.graph.initializer}
    weight_constants = [
        n.output[0]
        for n in model.graph.node
        if n.op_type == "Constant"
        and any(
            int(np.prod(a.t.dims or [1])) > 1 or len(a.floats) > 1 or len(a.ints) > 1 for a in n.attribute
        )
    ]
    seen, repeated = set(), 0
    for t in model.graph.initializer:
        if len(t.dims) >= 2:
            key = (t.data_type, tuple(t.dims), hashlib.sha256(numpy_helper.to_array(t).tobytes()).digest())
            repeated += key in seen
            seen.add(key)
    weight_matmuls = [
        n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers
    ]

    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "emissions.int8.onnx")
    quantize_dynamic(source, target, weight_type=QuantType.QInt8)
    quantized = onnx.load(target).graph
    ops = collections.Counter(n.op_type for n in quantized.node)
    left_float = float_weights(quantized)
    float_weight_matmuls = [
        n.name for n in quantized.node if n.op_type in ("MatMul", "Gemm") and set(n.input) & left_float
    ]
    manifest["file"] = os.path.basename(target)
    with open(os.path.join(out_dir, "emissions.int8.onnx.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    shutil.copy(os.path.join(os.path.dirname(manifest_json), "vocab.txt"), out_dir)
    print(
        json.dumps(
            {
                "weight_constants": len(weight_constants),
                "initializer_bytes": sum(numpy_helper.to_array(t).nbytes for t in initializers.values()),
                "safetensors_tensor_bytes": safetensors_tensor_bytes(safetensors),
                "repeated_initializers": repeated,
                "weight_matmuls": len(weight_matmuls),
                "matmul_integer": ops["MatMulInteger"],
                "float_weight_matmuls": len(float_weight_matmuls),
            }
        )
    )


if __name__ == "__main__":
    main()
