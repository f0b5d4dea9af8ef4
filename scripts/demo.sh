#!/usr/bin/env bash
# The demo, from a fresh machine: bash scripts/demo.sh   (make demo)
# Sets up .venv, then scripts/serve.sh: migrates (SQLite file unless DATABASE_URL says
# otherwise), seeds the blog, creates a superuser whose password it prints, and serves the
# site with a worker beside it. PORT=8001 make demo serves on another port.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
EXTRAS="${EXTRAS:-postgresql,demo}" source scripts/bootstrap.sh
exec bash scripts/serve.sh
