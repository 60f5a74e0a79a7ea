#!/usr/bin/env bash
# The GPU check, as one prepared command for the `device` tool (its README.md says how calls carry files).
#
#   here:   scripts/gpu-check.sh prepare
#           builds stripped release binaries (the unstripped ones are 120-140 MB; a call carries 64 MiB)
#           and stages them, the Python peer, its config/vocabulary and the pytorch-crf wheel (the GPU
#           machine has torch and transformers but not pytorch-crf) in .gpu-check/ (git-ignored).
#   there:  run  command: bash scripts/gpu-check.sh run   carry: [".gpu-check"]   timeout_s: 600
#           against that machine's torch 2.11: `train` on the committed sample with device=cuda in fp32
#           and in bf16, the BiLSTM encoders (bilstm; albert_bilstm in bf16), BERT in bf16, one rank of a world of one over NCCL (torchrun's variables set), `predict` on the
#           fp32 model, `serve` on it (the start-up line says device and precision; one JSON request), and
#           scripts/bench.py against the peer (tiny and
#           base, seq 128, batch 64). Logs and summary.txt go to $OUT (8 files, the most a call brings
#           back); the summary is printed last.
#
# Each step has its own time limit (4 × 100 + 100 + 30 + 40 + 230 s at worst, 800 s: past one 10-minute call only
# if every job hangs); on an H200 it should take a few minutes, leaving device time to run it again.
# The same plumbing runs here, without a GPU, with the project venv's python3 first on PATH:
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_CONFIGS=tiny GPU_CHECK_EPOCHS=0.05 GPU_CHECK_REPS=1 GPU_CHECK_BATCHES=4 \
#     OUT=DIR scripts/gpu-check.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=.gpu-check
DEVICE=${GPU_CHECK_DEVICE:-cuda}
CONFIGS=${GPU_CHECK_CONFIGS:-tiny,base}
EPOCHS=${GPU_CHECK_EPOCHS:-3}
REPS=${GPU_CHECK_REPS:-3}
BATCHES=${GPU_CHECK_BATCHES:-64}

prepare() {
  local shared=${ALBERT_NER_SHARED:-../shared}
  [ -f "$shared/bench/peers/hf_albert_crf.py" ] || { echo "gpu-check: no peer under $shared" >&2; exit 1; }
  make build
  rm -rf "$STAGE"
  mkdir -p "$STAGE/bin" "$STAGE/wheels" "$STAGE/shared/bench/peers" "$STAGE/shared/albert_zh"
  for b in train predict serve bench; do
    strip -o "$STAGE/bin/$b" "target/release/$b"
  done
  # ProcessGroupNCCL's library, found beside the train binary.
  strip -o "$STAGE/bin/libner_dist_nccl.so" target/release/libner_dist_nccl.so
  cp "$shared/bench/peers/hf_albert_crf.py" "$shared/bench/peers/ner_eval.py" "$STAGE/shared/bench/peers/"
  cp "$shared/albert_zh/vocab.txt" "$STAGE/shared/albert_zh/"
  .venv/bin/pip download --quiet --no-deps --only-binary=:all: -d "$STAGE/wheels" pytorch-crf==0.7.2
  du -sh "$STAGE"
  echo "gpu-check: staged; now run it on the device with carry [\"$STAGE\"]"
}

# One training job on a copy of the committed sample; $1 names it, the rest are hyperparameters. Its log and
# metrics go to $OUT, or to $TRAIN_JOB_LOGS (a call brings back at most 8 files; the summary line always).
train_job() {
  local name=$1 base=$WORK/$1 logs=${TRAIN_JOB_LOGS:-$OUT}
  shift
  mkdir -p "$base/input/config"
  cp -r local_test/test_dir/input/data "$base/input/"
  python3 - "$base/input/config/hyperparameters.json" device="$DEVICE" num_train_epochs="$EPOCHS" "$@" <<'PY'
import json, sys
hp = {"bert_config_file": "albert_config/albert_config_tiny.json", "vocab_file": "albert_config/vocab.txt",
      "max_seq_length": "128", "train_batch_size": "32", "learning_rate": "0.002",
      "crf_learning_rate_multiplier": "10", "seed": "42"}
hp.update(a.split("=", 1) for a in sys.argv[2:])
json.dump(hp, open(sys.argv[1], "w"))
PY
  local start=$SECONDS status=0
  SAGEMAKER_BASE_DIR="$base" timeout 100 "$STAGE/bin/train" > "$logs/train_$name.log" 2>&1 || status=$?
  local f1
  f1=$(grep -o 'test: .*entity_f1=[0-9.]*' "$logs/train_$name.log" | grep -o 'entity_f1=[0-9.]*' || true)
  echo "train $name: exit $status, $((SECONDS - start)) s, ${f1:-no test line}; $(grep -o 'precision: [^;]*' "$logs/train_$name.log" | head -1)" >> "$OUT/summary.txt"
  if [ "$status" != 0 ]; then tail -3 "$logs/train_$name.log" >> "$OUT/summary.txt"; fi
  cp "$base/model/metrics.json" "$logs/metrics_$name.json" 2>/dev/null || true
}

# `train` as rank 0 of a world of 1, started with torchrun's variables: the data-parallel path over NCCL
# (the log names the backend it joined with). Its log stays in $WORK; the summary gets the key lines.
nccl_job() {
  local base=$WORK/nccl
  mkdir -p "$base/input/config"
  cp -r local_test/test_dir/input/data "$base/input/"
  printf '{"bert_config_file": "albert_config/albert_config_tiny.json", "device": "%s", "max_steps": "20", "num_train_epochs": "100", "logging_steps": "10"}' \
    "$DEVICE" > "$base/input/config/hyperparameters.json"
  local status=0
  RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29512 SAGEMAKER_BASE_DIR="$base" \
    timeout 100 "$STAGE/bin/train" > "$WORK/train_nccl.log" 2>&1 || status=$?
  echo "train nccl (world size 1): exit $status" >> "$OUT/summary.txt"
  grep -E 'joining the process group|NCCL is not available|train: .*step=20/' "$WORK/train_nccl.log" | head -3 >> "$OUT/summary.txt" || true
  [ "$status" = 0 ] || tail -5 "$WORK/train_nccl.log" >> "$OUT/summary.txt"
}

run() {
  : "${OUT:?run on the device machine, where \$OUT is set}"
  [ -x "$STAGE/bin/train" ] || { echo "gpu-check: $STAGE/ missing: run 'scripts/gpu-check.sh prepare' and carry it" >&2; exit 1; }
  local torch_lib
  torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$STAGE"/wheels/*.whl
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
  WORK=$(mktemp -d)
  : > "$OUT/summary.txt"
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
  } >> "$OUT/summary.txt" 2>&1 || true

  train_job fp32 mixed_precision=off
  if [ "$DEVICE" = cuda ]; then train_job bf16 mixed_precision=bf16; fi
  # The BiLSTM encoders (cuDNN's LSTM; over ALBERT in bf16, the LSTM is fed its weights' kind).
  TRAIN_JOB_LOGS=$WORK train_job bilstm encoder=bilstm learning_rate=0.01 crf_learning_rate_multiplier=1
  if [ "$DEVICE" = cuda ]; then
    TRAIN_JOB_LOGS=$WORK train_job albert_bilstm_bf16 encoder=albert_bilstm mixed_precision=bf16
    # BERT (its own modules' names over ALBERT's layers) in bf16, from the bundled tiny BERT config.
    TRAIN_JOB_LOGS=$WORK train_job bert_bf16 encoder=bert bert_config_file=albert_config/bert_config_tiny.json mixed_precision=bf16
  fi
  nccl_job

  printf '王小明在北京大学读书。\n国务院总理在上海考察。\n' |
    timeout 30 "$STAGE/bin/predict" --model-dir "$WORK/fp32/model" --device "$DEVICE" --format jsonl \
      > "$OUT/predict.jsonl" 2> "$WORK/predict.log" &&
    echo "predict ($DEVICE): $(wc -l < "$OUT/predict.jsonl") lines; $(head -c 300 "$OUT/predict.jsonl")" >> "$OUT/summary.txt" ||
    { echo "predict ($DEVICE): failed:"; tail -5 "$WORK/predict.log"; } >> "$OUT/summary.txt"

  serve_check

  timeout 230 python3 scripts/bench.py --device "$DEVICE" --ours "$STAGE/bin/bench" --python python3 \
    --shared "$STAGE/shared" --configs "$CONFIGS" --batches "$BATCHES" --only train --reps "$REPS" \
    --json-out "$OUT/bench.json" > "$OUT/bench.log" 2>&1 || echo "bench: exit $?" >> "$OUT/summary.txt"
  grep -E '^train\+decode|train_samples_per_s|step_ms_median|infer_sents_per_s' "$OUT/bench.log" >> "$OUT/summary.txt" || true
  echo "== gpu-check summary =="
  cat "$OUT/summary.txt"
}

# `serve` on the fp32 model: its start-up line (device, precision), /ping, one JSON request, SIGTERM.
serve_check() {
  local port=18089 code=000
  SAGEMAKER_BIND_TO_PORT=$port timeout 40 "$STAGE/bin/serve" --model-dir "$WORK/fp32/model" --device "$DEVICE" \
    > "$WORK/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping" 2>/dev/null) || true
    [ "$code" = 200 ] && break
    sleep 0.5
  done
  {
    grep -m1 'serve: model' "$WORK/serve.log" || tail -3 "$WORK/serve.log"
    echo "serve ($DEVICE): /ping $code; /invocations: $(curl -s -H 'Content-Type: application/json' \
      -d '{"inputs": ["王小明在北京大学读书。", "国务院总理在上海考察。"]}' "http://127.0.0.1:$port/invocations" | head -c 300)"
  } >> "$OUT/summary.txt" 2>&1
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
