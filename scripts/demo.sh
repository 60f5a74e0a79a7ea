#!/usr/bin/env bash
# `make demo`: trains the tiny ALBERT+CRF on the committed MSRA sample, laid out as SageMaker lays out
# /opt/ml (local_test/test_dir), then prints entity-level scores and where the model is.
set -euo pipefail
cd "$(dirname "$0")/.."
base=local_test/test_dir
rm -rf "$base/model" "$base/output" "$base/checkpoints"
SAGEMAKER_BASE_DIR="$base" target/release/train
echo
echo "== demo result (entity level, test split of the committed sample) =="
target/release/train --summarize "$base"
