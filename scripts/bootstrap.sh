#!/usr/bin/env bash
# Set up .venv with Python >= 3.12 and the project installed (editable) with its extras.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (a stamp skips pip).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3)
  local dir
  for dir in "$HOME"/.pyenv/versions/3.1[2-9]* /root/.pyenv/versions/3.1[2-9]* /usr/local/bin /usr/bin; do
    [ -d "$dir" ] || continue
    candidates+=("$dir/bin/python3" "$dir/python3.13" "$dir/python3.12")
  done
  local c
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python)" || { echo "error: Python 3.12 or newer is needed (Django 6 needs it); set PYTHON=/path/to/python3.12" >&2; exit 2; }
  echo "==> creating .venv with $PY ($("$PY" --version))"
  "$PY" -m venv .venv
fi
EXTRAS="${EXTRAS:-postgresql,test,lint}"
STAMP=".venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-${EXTRAS//,/_}"
if [ ! -f "$STAMP" ]; then
  echo "==> installing django-runtasks[$EXTRAS] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
  rm -f .venv/.installed-*
  touch "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
