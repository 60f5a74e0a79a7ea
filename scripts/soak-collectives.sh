#!/usr/bin/env bash
# Runs crates/ner-dist's collectives tests (several Gloo groups, and several ranks each, in one process)
# N times in a row and stops at the first failure; a crash leaves its core's backtrace (gdb, where
# installed) in the run's directory. What found libtorch 2.11's flight-recorder race
# (crates/ner-dist/repro/flight_recorder_race.cpp); more test threads than cores make such races likelier.
#   scripts/soak-collectives.sh [runs=100] [test threads=8] [extra test-binary arguments...]
set -euo pipefail
runs=${1:-100}
threads=${2:-8}
shift $(( $# < 2 ? $# : 2 ))
cd "$(dirname "$0")/.."
bin=$(cargo test --release -p ner-dist --test collectives --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "collectives":
        print(m["executable"])')
out=$(mktemp -d "${TMPDIR:-/tmp}/soak-collectives.XXXXXX")
echo "soak-collectives: $bin, $runs runs, --test-threads $threads; logs in $out"
ulimit -c unlimited || true
for i in $(seq 1 "$runs"); do
  dir="$out/run$i"
  mkdir -p "$dir"
  if (cd "$dir" && timeout 600 "$bin" --test-threads "$threads" "$@" >log 2>&1); then
    rm -rf "$dir"
    continue
  fi
  echo "soak-collectives: run $i of $runs failed after $((i - 1)) passes in a row; see $dir/log"
  core=$(ls "$dir"/core* 2>/dev/null | head -1 || true)
  if [ -n "$core" ] && command -v gdb >/dev/null; then
    gdb -batch -ex "thread apply all bt 25" "$bin" "$core" >"$dir/backtrace.txt" 2>&1 || true
    rm -f "$core"
    echo "soak-collectives: backtraces in $dir/backtrace.txt"
  fi
  exit 1
done
echo "soak-collectives: $runs runs in a row passed"
rmdir "$out" 2>/dev/null || true
