#!/usr/bin/env bash
# Start the local services the tests use, when they are installed but not running.
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379); tests that need one skip, saying why,
# when it is absent (a newcomer's laptop), and CI has both.
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "== starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  echo "== starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
# Debian's Chromium for the web UI's browser tests (tests/web, marker browser); never a
# downloaded browser build (no `playwright install`).
if { [ "${CI:-}" = "true" ] || [ "${JIRAHOOKS_INSTALL_BROWSER:-}" = "1" ]; } &&
  [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "== installing Chromium (Debian package) for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || true
fi
for _ in $(seq 1 30); do
  { port_open 5432 || ! command -v pg_ctlcluster >/dev/null 2>&1; } &&
    { port_open 6379 || ! command -v redis-server >/dev/null 2>&1; } && break
  sleep 0.5
done
exit 0
