#!/usr/bin/env bash
# The demo's site and worker, once .venv is set up (scripts/demo.sh runs this).
# Ctrl-C stops both: the worker gets one SIGTERM (a warm shutdown: running tasks finish)
# and the script exits 0.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${PORT:-8000}"
PYTHON="${PYTHON:-python}"

"$PYTHON" manage.py migrate --noinput -v0
"$PYTHON" manage.py seed_demo
# Its own session: the terminal's Ctrl-C (SIGINT to the foreground process group) must not
# reach the worker as well as the TERM below, or two signals make a cold shutdown.
setsid "$PYTHON" manage.py runtasks --concurrency 2 --loglevel info &
WORKER=$!
SERVER=""
stop_all() {
  trap - EXIT INT TERM
  # runserver is a background job (it ignores the terminal's SIGINT): its reloader exits on
  # TERM and takes its serving child with it.
  [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null || true
  kill -TERM "$WORKER" 2>/dev/null || true
  wait "$WORKER" 2>/dev/null || true
  [ -n "$SERVER" ] && wait "$SERVER" 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT
DEBUG_ON="$("$PYTHON" manage.py diffsettings --all | sed -n 's/^DEBUG = //p')"
echo "==> worker running (pid $WORKER); open http://127.0.0.1:$PORT/ (blog) and http://127.0.0.1:$PORT/admin/django_tasks/dashboard/ (dashboard)"
if [ "$DEBUG_ON" = "True" ]; then
  echo "==> DEBUG is on (error pages show settings): the site listens on 127.0.0.1 only; DEBUG=false turns it off"
fi
# In the background, waited for with the wait builtin: a trapped signal interrupts `wait` at
# once, whereas a foreground runserver that does not exit on Ctrl-C would hold the trap back
# (CI saw the worker never get its TERM).
"$PYTHON" manage.py runserver "127.0.0.1:$PORT" &
SERVER=$!
wait "$SERVER" || true
