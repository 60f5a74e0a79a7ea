#!/usr/bin/env bash
# The GPU check, as one prepared command for the `device` tool (its README.md says how calls carry files).
#
#   here:   scripts/gpu-check.sh prepare
#           builds stripped release binaries (the unstripped ones are 120-140 MB; a call carries 64 MiB) and
#           stages them, libner_dist_nccl.so, the Python peer, its vocabulary, the pytorch-crf wheel (the GPU
#           machine has torch and transformers but not pytorch-crf) and MANIFEST (commit, the build's torch, the
#           newest glibc/libstdc++ symbol versions the binaries need) in .gpu-check/ (git-ignored, ~38 MB).
#           A call sends the checkout its session started in: prepare there.
#   there:  run  command: bash scripts/gpu-check.sh run   carry: [".gpu-check"]   timeout_s: 540
#
# `run` uses that machine's python3 and its torch 2.11 (LD_LIBRARY_PATH points the binaries at its torch/lib;
# their RUNPATH names the build machine's venv, absent there), with HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 (no
# network there). Steps, in the order of what matters most, each under its own limit (`timeout -k 3`, which
# ends the step's whole process group), all under one deadline (GPU_CHECK_DEADLINE, default 480 s from the
# start): a step whose limit no longer fits before the deadline is skipped, and the summary says so, rather than the
# call being killed with nothing back.
#
#   step               limit  what it does; what its summary lines give
#   preflight            45   python3, glibc, torch's version (must be 2.11.x), pytorch-crf installed from the
#                             wheel; `ldd` of every staged binary and library and of torch's libtorch_cuda.so
#                             (dlopened on a GPU) under the run's LD_LIBRARY_PATH, with where train's
#                             libtorch_cpu.so resolves; nvidia-smi (GPU, memory, driver, clock). Then torch
#                             imported (cuda, cuDNN, transformers, pytorch-crf, import s) and, on cuda, the GPU
#                             as torch sees it and a bf16 4096^3 matmul rate. A failure stops the run; a limit
#                             reached after the checks before the import does not.
#   train-fp32           50   `train` on the committed sample (tiny ALBERT+CRF, 3 epochs): exit, test F1, last
#                             step and samples/s, precision line
#   predict              20   `predict` on that model, two sentences: s, its JSON lines
#   serve                30   `serve` on it: s to /ping 200, one JSON request's answer and ms, median and max ms
#                             of 20 more, the start-up line (device, precision), exit after SIGTERM (Python's
#                             urllib, not curl, which that machine may lack)
#   train-bf16           45   as train-fp32 with mixed_precision=bf16 (cuda only); then train_batch_size=100000 of
#                             ALBERT-base at seq 512, which must be refused from the GPU's free memory
#   train-nccl           30   `train` as rank 0 of a world of 1 (torchrun's variables), 20 steps: the backend
#                             joined (NCCL on a GPU) and the last step's line
#   train-bilstm         30   as train-fp32 with encoder=bilstm (cuDNN's LSTM)
#   train-albert_bilstm_bf16  30   encoder=albert_bilstm in bf16 (cuda only)
#   train-bert_bf16      30   encoder=bert from the tiny BERT config, in bf16 (cuda only)
#   bench-tiny           60   scripts/bench.py against the peer (seq 128, batch 64): samples/s, step ms, decode
#   bench-base           60   sentences/s, ours and the peer's; 3 repetitions or as many as fit its limit less 15 s
#
# Worst case: the limits (430 s) + 3 s of kill grace per step (33 s) + 10 s kept for the archive = 473 s, under
# the 480 s deadline, so a call of timeout_s 540 ends with its results even if every step hangs. No GPU run yet:
# expected a few minutes. $OUT gets two files (a call brings back at most eight; more are dropped silently):
# summary.txt, written as each step ends, and gpu-check-logs.tar.gz (every step's log with the ldd listings,
# metrics.json, predict's output, the bench JSON, MANIFEST), refreshed after each step. The summary is printed
# last. Exit 0 when no step failed.
#
# A second call must fit the device time left (15 minutes a session, the machine's start included, and none
# started with under 4 minutes left): call again at once, while the machine is warm, with GPU_CHECK_DEADLINE
# under what is left and GPU_CHECK_STEPS naming the steps to repeat (say train-bf16,serve; preflight always runs;
# predict and serve need train-fp32).
#
# The same plumbing runs here, without a GPU, with the project venv's python3 first on PATH:
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_CONFIGS=tiny GPU_CHECK_EPOCHS=0.05 GPU_CHECK_REPS=1 GPU_CHECK_BATCHES=4 \
#     OUT=DIR scripts/gpu-check.sh run
# (about 45 s on 2 cores; with GPU_CHECK_DEADLINE=90 the bench step is skipped, with 60 train-fp32 too).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=scripts/$(basename "$0")
STAGE=${GPU_CHECK_STAGE:-.gpu-check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
CONFIGS=${GPU_CHECK_CONFIGS:-tiny,base}
EPOCHS=${GPU_CHECK_EPOCHS:-3}
REPS=${GPU_CHECK_REPS:-3}
BATCHES=${GPU_CHECK_BATCHES:-64}
DEADLINE=${GPU_CHECK_DEADLINE:-480}
ONLY=${GPU_CHECK_STEPS:-} # comma-separated step names to run (preflight always runs); empty: all
GRACE=3    # seconds from a step's SIGTERM to its SIGKILL
RESERVE=10 # seconds kept at the end for the summary and the archive
ARCHIVE=gpu-check-logs.tar.gz

# name:limit, in the order they run; the header's table says what each does.
steps() {
  echo preflight:45 train-fp32:50 predict:20 serve:30 train-bf16:45 train-nccl:30 train-bilstm:30 \
    train-albert_bilstm_bf16:30 train-bert_bf16:30
  local cfg
  for cfg in ${CONFIGS//,/ }; do echo "bench-$cfg:60"; done
}

prepare() {
  local shared=${ALBERT_NER_SHARED:-../shared} target=${CARGO_TARGET_DIR:-target}
  [ -f "$shared/bench/peers/hf_albert_crf.py" ] || { echo "gpu-check: no peer under $shared" >&2; exit 1; }
  make build
  rm -rf "$STAGE"
  mkdir -p "$STAGE/bin" "$STAGE/wheels" "$STAGE/shared/bench/peers" "$STAGE/shared/albert_zh"
  for b in train predict serve bench; do
    strip -o "$STAGE/bin/$b" "$target/release/$b"
  done
  # ProcessGroupNCCL's library, found beside the train binary.
  strip -o "$STAGE/bin/libner_dist_nccl.so" "$target/release/libner_dist_nccl.so"
  cp "$shared/bench/peers/hf_albert_crf.py" "$shared/bench/peers/ner_eval.py" "$STAGE/shared/bench/peers/"
  cp "$shared/albert_zh/vocab.txt" "$STAGE/shared/albert_zh/"
  .venv/bin/pip download --quiet --no-deps --only-binary=:all: -d "$STAGE/wheels" pytorch-crf==0.7.2
  {
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!.gpu-check' || echo '+changes'),"
    echo "built $(date -u +%F) against torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'),"
    echo "needs $(objdump -T "$STAGE"/bin/* | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)"
    echo "and $(objdump -T "$STAGE"/bin/* | grep -o 'GLIBCXX_[0-9.]*' | sort -Vu | tail -1)"
  } | tr '\n' ' ' | sed 's/ $/\n/' > "$STAGE/MANIFEST"
  cat "$STAGE/MANIFEST"
  du -sh "$STAGE"
  echo "gpu-check: staged; now run it on the device with carry [\"$STAGE\"] and timeout_s 540"
}

# --- the runner ---------------------------------------------------------------------------------------------

sum() { echo "$*" >> "$OUT/summary.txt"; }

# Packs $LOGS into $OUT/$ARCHIVE (through a temporary name, so a kill mid-way leaves the previous one whole);
# a log over 4 MB keeps its first 200 and last 4,000 lines so the archive stays far under a file's 16 MiB.
archive() {
  local f
  for f in "$LOGS"/*; do
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 4000000 ]; then
      { head -200 "$f"; echo "[... cut by gpu-check ...]"; tail -4000 "$f"; } > "$f.cut" && mv "$f.cut" "$f"
    fi
  done
  tar -czf "$WORK/$ARCHIVE" -C "$LOGS" . 2>/dev/null &&
    cp "$WORK/$ARCHIVE" "$OUT/$ARCHIVE.part" && mv -f "$OUT/$ARCHIVE.part" "$OUT/$ARCHIVE"
}

run() {
  : "${OUT:?run on the device machine, where \$OUT is set}"
  [ -x "$STAGE/bin/train" ] || { echo "gpu-check: $STAGE/ missing: run 'scripts/gpu-check.sh prepare' and carry it" >&2; exit 1; }
  local t0=$SECONDS
  export WORK LOGS PARTS DEVICE CONFIGS EPOCHS REPS BATCHES
  WORK=$(mktemp -d)
  LOGS=$WORK/logs
  PARTS=$WORK/parts
  mkdir -p "$LOGS" "$PARTS"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
  : > "$OUT/summary.txt"
  cp "$STAGE/MANIFEST" "$LOGS/" 2>/dev/null || true

  local worst=$RESERVE entry
  for entry in $(steps); do
    if applies "${entry%:*}"; then worst=$((worst + ${entry#*:} + GRACE)); fi
  done
  sum "gpu-check on $DEVICE: deadline ${DEADLINE} s; worst case of all steps ${worst} s" \
    "(limits + ${GRACE} s kill grace each + ${RESERVE} s reserve)"
  sum "staged: $(cat "$STAGE/MANIFEST" 2>/dev/null || echo 'no MANIFEST')"

  local ok=0 failed=() skipped=() stop="" fp32="did not run" name limit left start status took
  for entry in $(steps); do
    name=${entry%:*} limit=${entry#*:}
    if ! applies "$name"; then
      if [[ $name == *bf16 ]] && [ "$DEVICE" != cuda ]; then
        sum "$name: not run (bf16 is for cuda; device $DEVICE)"
      else
        sum "$name: not run (not in GPU_CHECK_STEPS)"
      fi
      continue
    fi
    left=$((DEADLINE - RESERVE - (SECONDS - t0)))
    if [ -n "$stop" ]; then
      sum "$name: SKIPPED ($stop)"; skipped+=("$name"); continue
    fi
    if { [ "$name" = predict ] || [ "$name" = serve ]; } && [ "$fp32" != ok ]; then
      sum "$name: SKIPPED (it needs train-fp32's model; train-fp32 ${fp32})"; skipped+=("$name"); continue
    fi
    if [ $((limit + GRACE)) -gt "$left" ]; then
      sum "$name: SKIPPED by the deadline: worst case $((limit + GRACE)) s, ${left} s left"
      skipped+=("$name")
      if [ "$name" = preflight ]; then stop="no preflight"; fi
      continue
    fi
    echo "gpu-check: [$((SECONDS - t0)) s] $name (limit ${limit} s)"
    start=$SECONDS status=0
    STEP_LIMIT=$limit STEP_LOG=$LOGS/$name.log STEP_PART=$PARTS/$name \
      timeout -k "$GRACE" "$limit" bash "$SCRIPT" step "$name" > "$LOGS/$name.log" 2>&1 || status=$?
    took=$((SECONDS - start))
    if [ "$status" = 0 ]; then
      sum "$name: ok, ${took} s (limit ${limit})"; ok=$((ok + 1))
    elif [ "$status" = 124 ] || [ "$status" = 137 ]; then
      sum "$name: TIMED OUT at ${took} s (limit ${limit})"; failed+=("$name")
    else
      sum "$name: FAILED, exit ${status}, ${took} s"; failed+=("$name")
    fi
    if [ "$name" = train-fp32 ]; then
      if [ "$status" = 0 ]; then fp32=ok; else fp32="failed"; fi
    fi
    # The step's own lines, less the log lines' timestamps; the log's last lines where it failed.
    if [ -f "$PARTS/$name" ]; then
      sed -E 's/^[0-9]{4}-[0-9-]+T[0-9:.]+Z +[A-Z]+ +//; s/^/  /' "$PARTS/$name" >> "$OUT/summary.txt"
    fi
    # (preflight's own lines say what it found wrong, unless it was cut short)
    if [ "$status" != 0 ] && { [ "$name" != preflight ] || [ "$status" = 124 ] || [ "$status" = 137 ]; }; then
      tail -4 "$LOGS/$name.log" | cut -c1-300 | sed 's/^/  | /' >> "$OUT/summary.txt"
    fi
    if [ "$name" = preflight ]; then
      # Its checks of versions, libraries and nvidia-smi passed where it wrote torch_lib: a preflight cut
      # short after them, in torch's first import, lets the rest run.
      if [ -s "$WORK/torch_lib" ]; then
        LD_LIBRARY_PATH="$(cat "$WORK/torch_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        export LD_LIBRARY_PATH
        if [ "$status" != 0 ]; then sum "  (its library checks passed: the steps after it run)"; fi
      else
        stop="preflight failed"
      fi
    fi
    archive || sum "archive: tar failed"
  done

  sum "gpu-check: ${ok} ok, ${#failed[@]} failed${failed:+ (${failed[*]})}," \
    "${#skipped[@]} skipped${skipped:+ (${skipped[*]})}; $((SECONDS - t0)) s of the ${DEADLINE} s deadline"
  archive || sum "archive: tar failed"
  sum "\$OUT: $(cd "$OUT" && find . -type f | wc -l) files: $(cd "$OUT" && find . -type f -printf '%f %s B, ' | sed 's/, $//')"
  echo "== gpu-check summary =="
  cat "$OUT/summary.txt"
  [ -z "$stop" ] && [ "${#failed[@]}" = 0 ]
}

# Whether step $1 runs: bf16 steps are for cuda; GPU_CHECK_STEPS, where set, names those that run.
applies() {
  case "$1" in
    *bf16) [ "$DEVICE" = cuda ] || return 1 ;;
  esac
  [ -z "$ONLY" ] || [ "$1" = preflight ] || [[ ",$ONLY," == *",$1,"* ]]
}

# --- the steps: each runs as `gpu-check.sh step NAME` under the runner's timeout, its output in $STEP_LOG;
# the lines it wants in the summary go to $STEP_PART. -----------------------------------------------------------

say() { echo "$*" >> "$STEP_PART"; }

# Lists a binary's or library's libraries as the dynamic loader resolves them (ldd, or the loader itself).
list_libs() {
  if command -v ldd > /dev/null; then ldd "$1" 2>&1; else /lib64/ld-linux-x86-64.so.2 --list "$1" 2>&1; fi
}

step_preflight() {
  local bad=0 f out missing torch_lib torch_version
  say "host: $(uname -srm), $(nproc) CPUs; $(python3 --version 2>&1) at $(command -v python3);" \
    "glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$STAGE"/wheels/*.whl || { say "PREFLIGHT: the pytorch-crf wheel did not install"; bad=1; }

  # First what costs no torch import (seconds on a cold disk): torch's version and library directory.
  out=$(python3 -c 'import importlib.metadata as m, importlib.util as u, os
print(m.version("torch")); print(os.path.join(os.path.dirname(u.find_spec("torch").origin), "lib"))' 2>&1) ||
    { say "PREFLIGHT: python3 finds no torch: $(echo "$out" | tail -1)"; return 1; }
  torch_version=$(echo "$out" | head -1) torch_lib=$(echo "$out" | tail -1)
  case "$torch_version" in
    2.11.*) ;;
    *) say "PREFLIGHT: the binaries are built against torch 2.11.x, python3 has '$torch_version'"; bad=1 ;;
  esac

  # Every staged binary and library, and libtorch_cuda.so (dlopened on a GPU), under the run's LD_LIBRARY_PATH.
  if [ -d "$torch_lib" ]; then
    local ldpath="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" checked=0 broken=0 where
    for f in "$STAGE"/bin/* "$torch_lib/libtorch_cuda.so"; do
      [ -e "$f" ] || { say "PREFLIGHT: $f is missing"; bad=1; continue; }
      out=$(LD_LIBRARY_PATH=$ldpath list_libs "$f")
      echo "== $f"; echo "$out"
      missing=$(echo "$out" | grep -E 'not found|not a dynamic' || true)
      if [ -n "$missing" ]; then
        say "PREFLIGHT: $f: $(echo "$missing" | head -3 | tr -s ' \t\n' ' ')"; bad=1 broken=$((broken + 1))
      fi
      checked=$((checked + 1))
    done
    where=$(LD_LIBRARY_PATH=$ldpath list_libs "$STAGE/bin/train" | grep -o 'libtorch_cpu.so => [^ ]*' || true)
    say "ldd: ${checked} files checked, ${broken} with libraries not found ($(cd "$STAGE/bin" && echo *) libtorch_cuda.so);" \
      "train: ${where:-libtorch_cpu.so not listed}"
  else
    say "PREFLIGHT: no torch/lib directory from python3 ('$torch_lib')"; bad=1
  fi

  if [ "$DEVICE" = cuda ]; then
    if command -v nvidia-smi > /dev/null; then
      say "nvidia-smi: $(nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,driver_version,clocks.sm \
        --format=csv,noheader 2>&1 | head -2 | tr '\n' ' ')"
    else
      say "PREFLIGHT: no nvidia-smi on PATH"; bad=1
    fi
  else
    say "nvidia-smi: not checked (device $DEVICE)"
  fi
  if [ "$bad" != 0 ]; then say "PREFLIGHT FAILED: the steps after it are skipped"; return 1; fi
  # The runner goes on from here even if what follows runs past the step's limit (a slow first import).
  echo "$torch_lib" > "$WORK/torch_lib"

  # Then one python3 with torch: versions, the GPU as torch sees it, one matrix product on it (which also
  # brings the CUDA libraries into the page cache for the steps after).
  echo "gpu-check: importing torch in python3"
  out=$(python3 - "$DEVICE" <<'PY' 2>&1
import sys, time
device = sys.argv[1]
t = time.time()
import torch
line = f"torch {torch.__version__} (cuda {torch.version.cuda}, cudnn {torch.backends.cudnn.version()}), import {time.time() - t:.1f} s"
try:
    import transformers
    line += f"; transformers {transformers.__version__}"
except Exception as e:
    line += f"; transformers: {type(e).__name__}: {e}"
try:
    import torchcrf  # noqa: F401
    line += "; pytorch-crf imports"
except Exception as e:
    line += f"; pytorch-crf: {type(e).__name__}: {e}"
print("say=" + line)
if device == "cuda":
    if not torch.cuda.is_available():
        print("bad=torch.cuda.is_available() is False")
        sys.exit(0)
    p = torch.cuda.get_device_properties(0)
    t = time.time()
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    first = time.time() - t
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ev0.record()
    for _ in range(10):
        a @ a
    ev1.record()
    torch.cuda.synchronize()
    tflops = 10 * 2 * 4096**3 / (ev0.elapsed_time(ev1) / 1e3) / 1e12
    print(f"say={torch.cuda.get_device_name(0)}: cc {p.major}.{p.minor}, {p.multi_processor_count} SMs, "
          f"{p.total_memory / 2**30:.0f} GiB; first CUDA product {first:.1f} s (context, cuBLAS); "
          f"bf16 4096^3 matmul {tflops:.0f} TFLOP/s (10 after a warm-up)")
PY
  ) || { say "PREFLIGHT: python3 with torch failed: $(echo "$out" | tail -2 | tr '\n' ' ')"; bad=1; }
  echo "$out"
  echo "$out" | sed -n 's/^say=//p' >> "$STEP_PART"
  if echo "$out" | grep -q '^bad='; then say "PREFLIGHT: $(echo "$out" | sed -n 's/^bad=//p')"; bad=1; fi
  if [ "$bad" != 0 ]; then
    rm -f "$WORK/torch_lib"
    say "PREFLIGHT FAILED: the steps after it are skipped"
  fi
  return "$bad"
}

# A SageMaker directory $1 with the committed sample's channels and an empty input/config/.
job_dir() {
  mkdir -p "$1/input/config"
  cp -r local_test/test_dir/input/data "$1/input/"
}

# One training job on a copy of the committed sample; $1 names it, the rest are hyperparameters.
train_job() {
  local name=$1 base=$WORK/$1 status=0 f1 rate
  shift
  job_dir "$base"
  python3 - "$base/input/config/hyperparameters.json" device="$DEVICE" num_train_epochs="$EPOCHS" "$@" <<'PY'
import json, sys
hp = {"bert_config_file": "albert_config/albert_config_tiny.json", "vocab_file": "albert_config/vocab.txt",
      "max_seq_length": "128", "train_batch_size": "32", "learning_rate": "0.002",
      "crf_learning_rate_multiplier": "10", "seed": "42"}
hp.update(a.split("=", 1) for a in sys.argv[2:])
json.dump(hp, open(sys.argv[1], "w"))
PY
  SAGEMAKER_BASE_DIR="$base" "$STAGE/bin/train" || status=$?
  f1=$(grep -o 'test: .*entity_f1=[0-9.]*' "$STEP_LOG" | grep -o 'entity_f1=[0-9.]*' | tail -1 || true)
  rate=$(grep -o 'step=[0-9]*/[0-9]* .*samples_per_s=[0-9.]*' "$STEP_LOG" | tail -1 | sed 's/ loss.*samples_per_s=/, samples_per_s=/' || true)
  say "exit $status; ${f1:-no test line}; last log: ${rate:-none}; $(grep -o 'precision: [^;]*' "$STEP_LOG" | head -1)"
  say "  $(grep -o 'memory: training needs.*' "$STEP_LOG" | head -1 | cut -c1-240)"
  cp "$base/model/metrics.json" "$LOGS/metrics_$name.json" 2>/dev/null || true
  return "$status"
}

step_train_fp32() { train_job fp32 mixed_precision=off; }
# Then a batch far beyond the device's memory: refused up front from cudaMemGetInfo, naming the batch that fits.
step_train_bf16() {
  local status=0
  train_job bf16 mixed_precision=bf16 || status=$?
  too_large_batch_refused
  return "$status"
}

too_large_batch_refused() {
  local base=$WORK/too_large code=0
  job_dir "$base"
  printf '{"bert_config_file": "albert_config/albert_config_base.json", "device": "%s", "max_seq_length": "512", "train_batch_size": "100000"}' \
    "$DEVICE" > "$base/input/config/hyperparameters.json"
  SAGEMAKER_BASE_DIR="$base" "$STAGE/bin/train" > "$LOGS/too_large.log" 2>&1 || code=$?
  say "too large a batch: exit $code; failure: $(head -c 300 "$base/output/failure" 2>/dev/null | tr '\n' ' ')"
}
# The BiLSTM encoders (cuDNN's LSTM; over ALBERT in bf16, the LSTM is fed its weights' kind).
step_train_bilstm() { train_job bilstm encoder=bilstm learning_rate=0.01 crf_learning_rate_multiplier=1; }
step_train_albert_bilstm_bf16() { train_job albert_bilstm_bf16 encoder=albert_bilstm mixed_precision=bf16; }
# BERT (its own modules' names over ALBERT's layers) in bf16, from the bundled tiny BERT config.
step_train_bert_bf16() {
  train_job bert_bf16 encoder=bert bert_config_file=albert_config/bert_config_tiny.json mixed_precision=bf16
}

# `train` as rank 0 of a world of 1, started with torchrun's variables: the data-parallel path over NCCL
# (the log names the backend it joined with).
step_train_nccl() {
  local base=$WORK/nccl status=0
  job_dir "$base"
  printf '{"bert_config_file": "albert_config/albert_config_tiny.json", "device": "%s", "max_steps": "20", "num_train_epochs": "100", "logging_steps": "10"}' \
    "$DEVICE" > "$base/input/config/hyperparameters.json"
  RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29512 SAGEMAKER_BASE_DIR="$base" \
    "$STAGE/bin/train" || status=$?
  say "exit $status (world size 1)"
  grep -E 'joining the process group|NCCL is not available|train: .*step=20/' "$STEP_LOG" | head -3 | cut -c1-250 >> "$STEP_PART" || true
  return "$status"
}

fp32_model() {
  [ -f "$WORK/fp32/model/metrics.json" ] || { say "no fp32 model: train-fp32 failed or was skipped"; exit 3; }
}

step_predict() {
  fp32_model
  local start status=0
  start=$(date +%s.%N)
  printf '王小明在北京大学读书。\n国务院总理在上海考察。\n' |
    "$STAGE/bin/predict" --model-dir "$WORK/fp32/model" --device "$DEVICE" --format jsonl > "$LOGS/predict.jsonl" || status=$?
  say "exit $status, $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }") s;" \
    "$(wc -l < "$LOGS/predict.jsonl") lines: $(head -c 300 "$LOGS/predict.jsonl" | tr '\n' ' ')"
  return "$status"
}

# `serve` on the fp32 model: its start-up line (device, precision), /ping, JSON requests, SIGTERM.
step_serve() {
  fp32_model
  local port=18089 pid status=0 client=0
  SAGEMAKER_BIND_TO_PORT=$port "$STAGE/bin/serve" --model-dir "$WORK/fp32/model" --device "$DEVICE" > "$LOGS/serve.log" 2>&1 &
  pid=$!
  python3 - "$port" $((STEP_LIMIT - 8)) "$pid" >> "$STEP_PART" <<'PY' || client=$?
import json, statistics, sys, time, urllib.request
port, budget, pid = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"


def serving():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


t0 = time.time()
code = None
while time.time() - t0 < budget and serving():
    try:
        with urllib.request.urlopen(base + "/ping", timeout=2) as r:
            code = r.status
        if code == 200:
            break
    except Exception as e:  # not listening yet
        code = type(e).__name__
    time.sleep(0.25)
print(f"/ping {code} after {time.time() - t0:.1f} s")
if code != 200:
    sys.exit(1)
body = json.dumps({"inputs": ["王小明在北京大学读书。", "国务院总理在上海考察。"]}).encode()


def ask():
    req = urllib.request.Request(base + "/invocations", data=body, headers={"Content-Type": "application/json"})
    t = time.time()
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode("utf-8", "replace"), (time.time() - t) * 1000

status, text, ms = ask()
print(f"/invocations {status} in {ms:.0f} ms: {text[:300]}")
times = [ask()[2] for _ in range(20)]
print(f"20 more: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
PY
  local when="after SIGTERM"
  case "$(cut -d' ' -f3 "/proc/$pid/stat" 2> /dev/null)" in
    "" | Z) when="before any SIGTERM: it had stopped" ;;
    *) kill -TERM "$pid" ;;
  esac
  wait "$pid" 2> /dev/null || status=$?
  say "$({ grep -m1 'serve: model' "$LOGS/serve.log" || tail -2 "$LOGS/serve.log"; } | cut -c1-250)"
  say "serve exit $status $when"
  [ "$client" = 0 ] && [ "$status" = 0 ]
}

# scripts/bench.py for one config against the peer; it stops repeating where another repetition would pass
# the step's limit less 15 s, so its figures come back.
bench_config() {
  local cfg=$1 status=0
  python3 scripts/bench.py --device "$DEVICE" --ours "$STAGE/bin/bench" --python python3 \
    --shared "$STAGE/shared" --configs "$cfg" --batches "$BATCHES" --only train --reps "$REPS" \
    --time-budget $((STEP_LIMIT - 15)) --json-out "$LOGS/bench-$cfg.json" || status=$?
  grep -E '^train\+decode|train_samples_per_s|step_ms_median|infer_sents_per_s' "$STEP_LOG" >> "$STEP_PART" || true
  return "$status"
}

step() {
  : "${STEP_PART:?run by 'gpu-check.sh run'}"
  local name=$1
  case "$name" in
    bench-*) bench_config "${name#bench-}" ;;
    *) "step_${name//-/_}" ;;
  esac
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  step) step "$2" ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
