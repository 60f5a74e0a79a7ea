#!/usr/bin/env bash
# `make demo`: trains the tiny ALBERT+CRF from scratch on the committed MSRA sample, laid out as SageMaker
# lays out /opt/ml (local_test/test_dir), then prints the test split's entity-level scores and where the model is.
set -euo pipefail
cd "$(dirname "$0")/.."
base=local_test/test_dir
rm -rf "$base/model" "$base/output" "$base/checkpoints"
start=$SECONDS
SAGEMAKER_BASE_DIR="$base" target/release/train
python3 - "$base" "$((SECONDS - start))" <<'PY'
import json, sys
base, seconds = sys.argv[1], sys.argv[2]
r = json.load(open(f"{base}/output/data/test_results.json"))["entity"]["micro"]
print(f"\n== demo: {seconds} s; entity-level scores on the sample's test split ==")
print(f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}")
print(f"model written to {base}/model/ (model.safetensors, config.json, vocab.txt)")
PY
