"""Quantizes an ONNX file `export` wrote as an onnxruntime user would (`quantize_dynamic`, its defaults,
int8 weights), and writes a manifest for the int8 file beside it, so that export_decode.py can tag with it.

Usage: python onnx_int8.py MANIFEST_JSON OUT_DIR
Prints one JSON object: what the export holds (weight-sized Constant nodes, initializer bytes) and how
much of it was quantized (MatMul nodes with an initializer weight before, MatMulInteger nodes after).
"""

import collections
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic


def main():
    manifest_json, out_dir = sys.argv[1], sys.argv[2]
    with open(manifest_json, encoding="utf-8") as f:
        manifest = json.load(f)
    source = os.path.join(os.path.dirname(manifest_json), manifest["file"])
    model = onnx.load(source)
    initializers = {t.name: t for t in model.graph.initializer}
    weight_constants = [
        n.output[0]
        for n in model.graph.node
        if n.op_type == "Constant" and n.attribute and int(np.prod(n.attribute[0].t.dims or [1])) > 1
    ]
    weight_matmuls = [
        n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers
    ]

    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "emissions.int8.onnx")
    quantize_dynamic(source, target, weight_type=QuantType.QInt8)
    ops = collections.Counter(n.op_type for n in onnx.load(target).graph.node)
    manifest["file"] = os.path.basename(target)
    with open(os.path.join(out_dir, "emissions.int8.onnx.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    shutil.copy(os.path.join(os.path.dirname(manifest_json), "vocab.txt"), out_dir)
    print(
        json.dumps(
            {
                "weight_constants": len(weight_constants),
                "initializer_bytes": sum(len(t.raw_data) for t in initializers.values()),
                "weight_matmuls": len(weight_matmuls),
                "matmul_integer": ops["MatMulInteger"],
            }
        )
    )


if __name__ == "__main__":
    main()
