#!/usr/bin/env bash
# Runs the training image on local_test/test_dir the way SageMaker does: test_dir mounted as /opt/ml, the
# argument `train`, the container removed afterwards. The model lands in test_dir/model, a failure reason in
# test_dir/output/failure. Exit status is the container's.
# Usage: local_test/train_local.sh IMAGE [RUN OPTIONS...]     e.g. ... albert-ner:dev --gpus all
# Env: CONTAINER_ENGINE=docker|podman, TEST_DIR (default local_test/test_dir).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ $# -ge 1 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
image=$1; shift
engine=$(pick_engine)
test_dir=$(cd "${TEST_DIR:-$here/test_dir}" && pwd)
# SageMaker starts every job with empty model/ and output/ folders.
rm -rf "$test_dir/model" "$test_dir/output"
mkdir -p "$test_dir/model" "$test_dir/output" "$test_dir/checkpoints"
set -x
"$engine" run --rm -v "$test_dir:/opt/ml" "$@" "$image" train
