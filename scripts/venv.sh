#!/usr/bin/env bash
# Create .venv (if needed) and install jirahooks into it, editable, with the extras a job needs:
#
#   bash scripts/venv.sh          # everything the tests use: [server,postgres,dev] (make test)
#   bash scripts/venv.sh server   # only what serving needs: [server,postgres] (make run)
#
# Each set has its own stamp, so `make run` never pulls the test stack (Playwright, mypy,
# pytest …) and `make test` after `make run` adds it. Re-running is cheap: pip is skipped while
# pyproject.toml is older than the stamp. The full set includes the server set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
set_name=${1:-dev}
case "$set_name" in
  dev) extras="server,postgres,dev" ;;
  server) extras="server,postgres" ;;
  *) echo "usage: scripts/venv.sh [dev|server]" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
full=.venv/.jirahooks-installed            # [server,postgres,dev]
stamp=$full
[ "$set_name" = server ] && stamp=.venv/.jirahooks-installed-server
fresh() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ]; }
if fresh "$stamp" || { [ "$set_name" = server ] && fresh "$full"; }; then
  exit 0
fi
echo "== installing jirahooks[$extras] into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$extras]"
touch "$stamp"
