"""The first hour's mistakes, as real ``manage.py`` subprocesses: each says what to do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The one-line message for a database without the tables (all the migrations missing).
MISSING = (
    r"Database 'default' lacks \d+ django_tasks migrations \(0001_initial to 0\d+_\w+\): "
    r"run `python manage\.py migrate`\."
)


def manage(*args: str, settings: str = "tests.settings", db: str, timeout: float = 60):
    env = {**os.environ, "DATABASE_URL": db, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args, "--settings", settings],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def fresh_sqlite(tmp_path) -> str:
    """A SQLite file nobody has migrated (a new project before ``manage.py migrate``)."""
    return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"


@pytest.mark.sqlite
def test_check_lists_every_bad_key_with_the_closest_name_and_no_traceback(fresh_sqlite):
    done = manage("check", settings="tests.settings_bad_keys", db=fresh_sqlite)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out
    assert (
        "(django_tasks.E002) DJANGO_TASKS['DEFAULT_RETRY_DELAYS'] is not a setting. "
        "Did you mean 'DEFAULT_RETRY_DELAY'?" in out
    )
    assert "DJANGO_TASKS['TRAK_STARTED'] is not a setting. Did you mean 'TRACK_STARTED'?" in out
    assert "DJANGO_TASKS['DEFAULT_PRIORITY'] must be an integer from 0 to 9, not 99." in out


@pytest.mark.sqlite
def test_unapplied_migrations_are_a_check_error_naming_migrate(fresh_sqlite):
    done = manage("check", db=fresh_sqlite)
    assert done.returncode == 1
    assert re.search(r"\(django_tasks.E020\) " + MISSING, done.stderr), done.stderr


@pytest.mark.sqlite
def test_runtasks_without_migrations_says_one_line_and_exits_1(fresh_sqlite):
    done = manage("runtasks", "--burst", db=fresh_sqlite)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch("CommandError: " + MISSING, lines[0]), lines


@pytest.mark.sqlite
def test_migrate_is_not_blocked_by_the_migrations_check_and_then_check_passes(fresh_sqlite):
    migrated = manage("migrate", "-v0", db=fresh_sqlite)
    assert migrated.returncode == 0, migrated.stderr
    done = manage("check", "--fail-level", "WARNING", db=fresh_sqlite)
    assert done.returncode == 0, done.stderr
    burst = manage("runtasks", "--burst", "-c", "1", db=fresh_sqlite)
    assert burst.returncode == 0, burst.stderr


@pytest.mark.sqlite
def test_sqlite_without_immediate_transactions_is_a_check_warning(fresh_sqlite):
    done = manage("check", settings="tests.settings_plain_sqlite", db=fresh_sqlite)
    assert "(django_tasks.W020) DATABASES['default'] is SQLite without " in done.stderr
    assert "OPTIONS['transaction_mode'] = 'IMMEDIATE'" in done.stderr


def test_burst_exits_non_zero_when_the_database_cannot_be_reached():
    # Port 1 on the loopback: refused at once, as a server that is down.
    done = manage("runtasks", "--burst", "-c", "1", db="postgres://postgres@127.0.0.1:1/nothing")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "event=db-unavailable" in done.stdout + done.stderr
    assert "burst=exit" in done.stdout + done.stderr
