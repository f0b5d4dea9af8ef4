#!/usr/bin/env bash
# The demo, from a fresh machine: bash scripts/demo.sh   (make demo)
# Sets up .venv, migrates (SQLite file unless DATABASE_URL says otherwise), seeds the blog,
# creates a superuser whose password it prints, and serves the site with a worker beside it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
EXTRAS="${EXTRAS:-postgresql,demo}" source scripts/bootstrap.sh
PORT="${PORT:-8000}"

python manage.py migrate --noinput -v0
python manage.py seed_demo
python manage.py runtasks --concurrency 2 --loglevel info &
WORKER=$!
trap 'kill -TERM $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo "==> worker running (pid $WORKER); open http://127.0.0.1:$PORT/ (blog) and http://127.0.0.1:$PORT/admin/django_tasks/dashboard/"
python manage.py runserver "127.0.0.1:$PORT"
