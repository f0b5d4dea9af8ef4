#!/usr/bin/env bash
# Create the benchmark venv for the peer task queues (if missing) and install
# the pinned peers into it.  The venv lives at <repo root>/.venv-bench and is
# kept separate from the project's own environment so peers' dependencies
# (Celery, PgQueuer, ...) never leak into django_tasks' tests.
#
# Usage: bash bench/peers/setup.sh   (PYTHON=/path/to/python3.12 to override)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$(cd "$HERE/../.." && pwd)/.venv-bench"
PYTHON="${PYTHON:-}"

if [ -z "$PYTHON" ]; then
    # Django 6 needs Python >= 3.12.
    for cand in python3.12 python3.13 /root/.pyenv/versions/3.12.1/bin/python python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
           "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            PYTHON="$cand"
            break
        fi
    done
fi
if [ -z "$PYTHON" ]; then
    echo "setup.sh: need Python >= 3.12 (set PYTHON=...)" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
# Keep the venv out of git without touching the repo's .gitignore (what
# Python >= 3.13's venv module does by itself).
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"
"$VENV/bin/python" -m pip install --quiet --upgrade pip || true  # best effort
"$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements.txt"
echo "Peers installed in $VENV"
