#!/usr/bin/env bash
# Tags sentences with the model that train_local.sh left in local_test/test_dir/model, using the image's
# `predict` binary. By default the first N sentences of the test channel (test_dir/input/data/test/test.txt,
# one char + tag per line) are turned into raw text, one sentence per line, and fed on stdin.
# Usage: local_test/predict_local.sh IMAGE [FILE]    FILE: raw text, one sentence per line (default: see above)
# Env: CONTAINER_ENGINE=docker|podman, TEST_DIR, N (default 20), FORMAT=bio|jsonl (default bio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ $# -ge 1 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
image=$1
engine=$(pick_engine)
test_dir=$(cd "${TEST_DIR:-$here/test_dir}" && pwd)
[ -f "$test_dir/model/config.json" ] || { echo "predict_local: no model in $test_dir/model; run train_local.sh first" >&2; exit 1; }
if [ $# -ge 2 ]; then
  cat "$2"
else
  # awk stops by itself after N sentences (a `| head` would kill it with SIGPIPE, failing under pipefail).
  awk -v n="${N:-20}" '
    function emit() { if (s != "") { print s; if (++c >= n) { done = 1; exit } } s = "" }
    NF == 0 { emit(); next }
    { s = s $1 }
    END { if (!done) emit() }' "$test_dir/input/data/test/test.txt"
fi | "$engine" run --rm -i -v "$test_dir/model:/opt/ml/model:ro" "$image" \
  predict --model-dir /opt/ml/model --input - --format "${FORMAT:-bio}"
