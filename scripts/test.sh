#!/usr/bin/env bash
# The whole test suite, as the README's test command and .ci/run run it:
# install, start services, ruff format + check, mypy strict, pytest (all tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff format --check"
ruff format --check src tests benchmarks
echo "== ruff check"
ruff check src tests benchmarks
echo "== mypy (strict)"
mypy
if [ "${1:-}" = "--lint-only" ]; then exit 0; fi
echo "== pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
