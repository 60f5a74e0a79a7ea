#!/usr/bin/env bash
# Creates or refreshes the project venv (.venv) that provides libtorch (torch==2.11.0 from PyPI) and the
# Python reference implementations the tests compare against. Idempotent: when the requirement files
# have not changed since the last successful run it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
reqs=(requirements/torch.txt requirements/export.txt requirements/test.txt)
stamp="$venv/.requirements.sha256"
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup-venv: need Python >= 3.10 (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || {
    echo "setup-venv: '$python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
echo "setup-venv: installing ${reqs[*]} into $venv (torch is ~5 GB with its CUDA libraries; once)"
"$venv/bin/pip" install --quiet --disable-pip-version-check $(printf -- '-r %s ' "${reqs[@]}")
echo "$want" > "$stamp"
