#!/usr/bin/env bash
# The main job: install jirahooks[server,postgres] into .venv (not the test stack), then start
# the jirahooks server on its embedded SQLite default (data in ./.jirahooks-data). Extra
# arguments go to `jirahooks serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh server
exec .venv/bin/jirahooks serve --data-dir "${JIRAHOOKS_DATA_DIR:-.jirahooks-data}" "$@"
