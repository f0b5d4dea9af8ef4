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
stop_worker() {
  trap - EXIT INT TERM
  kill -TERM "$WORKER" 2>/dev/null || true
  wait "$WORKER" 2>/dev/null || true
}
trap 'stop_worker; exit 0' INT TERM
trap stop_worker EXIT
DEBUG_ON="$("$PYTHON" manage.py diffsettings --all | sed -n 's/^DEBUG = //p')"
echo "==> worker running (pid $WORKER); open http://127.0.0.1:$PORT/ (blog) and http://127.0.0.1:$PORT/admin/django_tasks/dashboard/ (dashboard)"
if [ "$DEBUG_ON" = "True" ]; then
  echo "==> DEBUG is on (error pages show settings): the site listens on 127.0.0.1 only; DEBUG=false turns it off"
fi
"$PYTHON" manage.py runserver "127.0.0.1:$PORT" || true
