#!/usr/bin/env bash
# The whole test suite on every combination the package claims, from a fresh machine:
#   bash scripts/test.sh            (make test)
# Runs, each announced by a "==> [k/n] ..." line:
#   Python 3.12 + newest Django 6   on SQLite, PostgreSQL and MariaDB/MySQL   (.venv)
#   Python 3.12 + Django 5.2 LTS    on SQLite and PostgreSQL                  (.venv-django52)
#   Python 3.13 + newest Django 6   on SQLite                                 (.venv-py313)
# Extra arguments go to every pytest run (e.g. -k retry). TEST_POSTGRES_URL and TEST_MYSQL_URL
# override the servers; TEST_MATRIX=main runs the first three only (a quick local run).
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
MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
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
if ! .venv/bin/python - "$MYSQL_URL" <<'PY' 2>/dev/null
import sys, MySQLdb, environ
p = environ.Env.db_url_config(sys.argv[1])
MySQLdb.connect(host=p["HOST"] or "127.0.0.1", port=int(p["PORT"] or 3306), user=p["USER"] or "root",
                password=p["PASSWORD"] or "", connect_timeout=3).close()
PY
then
  if [ "$(id -u)" = 0 ] && command -v service >/dev/null 2>&1 && [ -x /etc/init.d/mariadb ]; then
    echo "==> MariaDB is down; starting it"
    service mariadb start || true
    sleep 2
  fi
fi

# The other interpreter: Python 3.13 from pyenv or the PATH (never an assumed path).
find_python313() {
  local c
  for c in "${PYTHON313:-}" "$HOME"/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3 \
           "$(command -v python3.13 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

# name | venv | DATABASE_URL ("" = SQLite) | pytest arguments of this run
# The Django 5.2 and Python 3.13 runs leave out what does not depend on those versions and
# costs most of the time: kill/restart fault tests, the browser, the multi-worker beat
# tests and the 1M-row admin scale test (runs 1-3 have them), so .ci/run stays well
# inside its time limit on 2 cores.
VERSION_ONLY="--ignore=tests/faults --ignore=tests/browser --ignore=tests/beat/test_beat_workers.py --ignore=tests/admin/test_scale.py"
RUNS=(
  "SQLite, Django 6, Python 3.12|.venv|"
  "PostgreSQL, Django 6, Python 3.12|.venv|$PG_URL"
  "MariaDB/MySQL, Django 6, Python 3.12|.venv|$MYSQL_URL"
)
if [ "${TEST_MATRIX:-all}" != main ]; then
  ensure_venv .venv-django52 .venv/bin/python "postgresql,test" "Django>=5.2,<5.3"
  RUNS+=(
    "SQLite, Django 5.2, Python 3.12|.venv-django52||$VERSION_ONLY"
    "PostgreSQL, Django 5.2, Python 3.12|.venv-django52|$PG_URL|$VERSION_ONLY"
  )
  if PY313="$(find_python313)"; then
    ensure_venv .venv-py313 "$PY313" "postgresql,test"
    RUNS+=("SQLite, Django 6, Python 3.13|.venv-py313||$VERSION_ONLY")
  else
    echo "!! Python 3.13 was not found (set PYTHON313=/path/to/python3.13): that run fails" >&2
    RUNS+=("SQLite, Django 6, Python 3.13|MISSING|")
  fi
fi

status=0
summary=()
n=${#RUNS[@]}
k=0
for run in "${RUNS[@]}"; do
  IFS='|' read -r name venv url extra <<< "$run"
  k=$((k + 1))
  if [ "$venv" = MISSING ]; then
    summary+=("FAILED  $name: no interpreter")
    status=1
    continue
  fi
  versions="$("$venv/bin/python" -c 'import sys, django; print(f"Python {sys.version.split()[0]}, Django {django.get_version()}")')"
  echo "==> [$k/$n] tests on $name ($versions${url:+, $url})${extra:+ without: ${extra//--ignore=/}}"
  began=$SECONDS
  rc=0
  # shellcheck disable=SC2086 # $extra is a list of arguments
  DATABASE_URL="$url" "$venv/bin/python" -m pytest $extra "$@" || rc=$?
  took=$((SECONDS - began))
  if [ "$rc" = 0 ]; then
    summary+=("ok      $name ($versions) in ${took}s")
  else
    summary+=("FAILED  $name ($versions) in ${took}s: pytest exit $rc")
    status=1
  fi
done
echo "==> summary"
printf '    %s\n' "${summary[@]}"
exit $status
