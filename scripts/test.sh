#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL, from a fresh machine:
#   bash scripts/test.sh            (make test)
# Extra arguments go to pytest (e.g. -k retry). TEST_POSTGRES_URL overrides the server.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh

# Chromium for the admin browser tests comes from Debian's packages (never a download of
# its own); without root or apt the browser tests say so loudly and are skipped.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "!! could not install chromium: browser tests will be skipped" >&2
  else
    echo "!! chromium is not installed and cannot be installed here: browser tests will be skipped" >&2
  fi
fi

# PgBouncer for tests/integration/test_pgbouncer.py (the fixture starts its own on a free port).
if ! command -v pgbouncer >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null || echo "!! could not install pgbouncer" >&2
fi

PG_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! .venv/bin/python - "$PG_URL" <<'PY' 2>/dev/null
import sys, psycopg, environ
p = environ.Env.db_url_config(sys.argv[1])
psycopg.connect(host=p["HOST"], port=p["PORT"] or 5432, user=p["USER"], dbname="postgres", connect_timeout=3).close()
PY
then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> PostgreSQL is down; starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
fi

status=0
echo "==> tests on SQLite"
DATABASE_URL="" .venv/bin/python -m pytest "$@" || status=$?
echo "==> tests on PostgreSQL ($PG_URL)"
DATABASE_URL="$PG_URL" .venv/bin/python -m pytest "$@" || status=$?
exit $status
