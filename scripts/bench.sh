#!/usr/bin/env bash
# The benchmark, from a fresh machine: bash scripts/bench.sh   (make bench)
# Sets up .venv, then runs bench/run.py on PostgreSQL (its own database, DROPPED and recreated:
# postgres://postgres@127.0.0.1:5432/dt_bench unless BENCH_DATABASE_URL says otherwise), then on
# a SQLite file under /tmp with a smaller N. Extra arguments go to both runs
# (e.g. --repeat 1, --memory, --peers, --phases drain,latency); see python bench/run.py --help.
# BENCH_SQLITE=0 skips SQLite; BENCH_SQLITE_ARGS replaces its size arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh

PG_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/dt_bench}"
SQLITE_URL="sqlite:///${BENCH_SQLITE_PATH:-/tmp/dt_bench.sqlite3}"
# SQLite has one writer at a time: smaller figures, so smaller sizes keep the run short.
read -r -a SQLITE_ARGS <<< "${BENCH_SQLITE_ARGS:---n 5000 --n-one 2000}"

if ! .venv/bin/python - "$PG_URL" <<'PY' 2>/dev/null
import sys, psycopg, environ
p = environ.Env.db_url_config(sys.argv[1])
psycopg.connect(host=p["HOST"], port=p["PORT"] or 5432, user=p["USER"], password=p["PASSWORD"] or None,
                dbname="postgres", connect_timeout=3).close()
PY
then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> PostgreSQL is down; starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
fi

status=0
echo "==> benchmark on PostgreSQL ($PG_URL)"
.venv/bin/python bench/run.py --database-url "$PG_URL" "$@" || status=$?
if [ "${BENCH_SQLITE:-1}" != 0 ]; then
  echo "==> benchmark on SQLite ($SQLITE_URL)"
  # Peers are PostgreSQL queues: bench/run.py skips them on SQLite.
  .venv/bin/python bench/run.py --database-url "$SQLITE_URL" "${SQLITE_ARGS[@]}" "$@" || status=$?
fi
exit $status
