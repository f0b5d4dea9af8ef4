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

# mysqlclient (the mysql extra) builds against the MySQL/MariaDB client library: Debian's
# default-libmysqlclient-dev and pkg-config, installed here when missing (as root).
ensure_mysqlclient_build_deps() {
  if pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's default-libmysqlclient-dev and pkg-config (for mysqlclient)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      default-libmysqlclient-dev pkg-config >/dev/null
  else
    echo "error: mysqlclient needs the MySQL client headers: install default-libmysqlclient-dev and pkg-config" >&2
    return 2
  fi
}

# ensure_venv DIR PYTHON EXTRAS [PIP_ARGS...]: DIR has the project (editable) with EXTRAS and
# PIP_ARGS (e.g. "Django>=5.2,<5.3"); a stamp of the metadata and arguments skips pip.
ensure_venv() {
  local dir="$1" py="$2" extras="$3"
  shift 3
  if [ ! -x "$dir/bin/python" ]; then
    echo "==> creating $dir with $py ($("$py" --version))"
    "$py" -m venv "$dir"
  fi
  local stamp
  stamp="$dir/.installed-$( (cat setup.cfg pyproject.toml; echo "$extras $*") | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    case ",$extras," in *,mysql,*) ensure_mysqlclient_build_deps ;; esac
    echo "==> installing django-runtasks[$extras] $* into $dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" "$@"
    rm -f "$dir"/.installed-*
    touch "$stamp"
  fi
}

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python)" || { echo "error: Python 3.12 or newer is needed (Django 6 needs it); set PYTHON=/path/to/python3.12" >&2; exit 2; }
else
  PY=.venv/bin/python
fi
EXTRAS="${EXTRAS:-postgresql,mysql,test,lint}"
ensure_venv .venv "$PY" "$EXTRAS"
export PATH="$ROOT/.venv/bin:$PATH"
