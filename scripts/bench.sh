#!/usr/bin/env bash
# Run every benchmark under benchmarks/ and print their figures (they assert nothing); files
# starting with "_" are shared helpers, not benchmarks.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
for script in benchmarks/[!_]*.py; do
  echo "=================== $script"
  .venv/bin/python "$script" || echo "($script exited $?)"
done
