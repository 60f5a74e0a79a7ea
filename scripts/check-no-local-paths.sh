#!/usr/bin/env bash
# Fails when a committed file names a path that exists only on this project's build machines (the
# workspace folder, a venv under /tmp): a user's clone has neither. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Built from parts so that this file does not match itself.
workspace="/wor""k/"
tmp_venv="/tm""p/[A-Za-z0-9_.-]*venv"
if git grep -nI -E "$workspace|$tmp_venv" -- . ; then
  echo "check-no-local-paths: the files above name paths of our build machines; write them relative to the repository" >&2
  exit 1
fi
echo "check-no-local-paths: ok"
