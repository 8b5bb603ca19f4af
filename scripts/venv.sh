#!/usr/bin/env bash
# Create .venv (if needed) and install jirahooks with every extra the tests use.
# Re-running is cheap: pip is skipped when pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.jirahooks-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing jirahooks[server,postgres,dev] into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[server,postgres,dev]"
  touch "$stamp"
fi
