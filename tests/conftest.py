"""
Fixtures shared by the whole suite: real databases, real ``runtasks`` subprocesses.

DATABASE_URL picks the vendor (a SQLite file when unset). Vendor-only tests are marked
``postgresql``, ``mysql`` and/or ``sqlite`` and deselected on the other vendors, so runs
report no skips.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "test-artifacts" / "worker-logs"


def _vendor() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return "postgresql"
    if url.startswith("mysql://"):
        return "mysql"
    return "sqlite"


VENDOR = _vendor()


def pytest_configure(config) -> None:
    for name in ("postgresql", "sqlite", "mysql"):
        config.addinivalue_line("markers", f"{name}: runs only on {name}")
    config.addinivalue_line("markers", "browser: drives a real Chromium")
    if VENDOR == "postgresql":
        _require_postgresql()
    if VENDOR == "mysql":
        _require_mysql()


def _require_postgresql() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    try:
        import environ

        params = environ.Env.db_url_config(url)
        psycopg.connect(
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            user=params["USER"] or None,
            password=params["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except Exception as exc:
        message = f"PostgreSQL at {url} cannot be reached: {exc}"
        if os.environ.get("CI") == "true":
            pytest.exit(f"FAILED: {message} (CI=true: this is a failure, not a skip)", returncode=3)
        sys.stderr.write("\n" + "!" * 78 + f"\n!! {message}\n" + "!" * 78 + "\n")
        pytest.exit(message, returncode=3)


def _require_mysql() -> None:
    url = os.environ["DATABASE_URL"]
    try:
        import environ
        import MySQLdb

        params = environ.Env.db_url_config(url)
        MySQLdb.connect(
            host=params["HOST"] or "127.0.0.1",
            port=int(params["PORT"] or 3306),
            user=params["USER"] or "root",
            password=params["PASSWORD"] or "",
            connect_timeout=5,
        ).close()
    except Exception as exc:
        message = f"MySQL/MariaDB at {url} cannot be reached: {exc}"
        if os.environ.get("CI") == "true":
            pytest.exit(f"FAILED: {message} (CI=true: this is a failure, not a skip)", returncode=3)
        sys.stderr.write("\n" + "!" * 78 + f"\n!! {message}\n" + "!" * 78 + "\n")
        pytest.exit(message, returncode=3)


def pytest_collection_modifyitems(config, items) -> None:
    # A test marked with vendors runs on those only (e.g. postgresql and mysql: a server).
    keep, drop = [], []
    for item in items:
        marked = {m for m in ("postgresql", "sqlite", "mysql") if item.get_closest_marker(m)}
        (drop if marked and VENDOR not in marked else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def site_admins(settings) -> list:
    """ADMINS for Django's mail_admins, as this Django spells it (2-tuples before 6.0)."""
    address = "ops@example.com"
    settings.ADMINS = [address] if django.VERSION >= (6, 0) else [("Ops", address)]
    settings.SERVER_EMAIL = "tasks@example.com"
    return [address]


@pytest.fixture
def vendor() -> str:
    return VENDOR


def database_url() -> str:
    """The URL of the test database (what a runtasks subprocess must use)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    scheme = "mysql" if connection.vendor == "mysql" else "postgres"
    return f"{scheme}://{auth}{host}{port}/{s['NAME']}"


class WorkerProcess:
    """A running ``manage.py runtasks`` subprocess with its log file."""

    def __init__(
        self, args: tuple[str, ...], env: dict[str, str], log: Path, prefix: tuple[str, ...] = ()
    ) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                str(ROOT / "manage.py"),
                "runtasks",
                "--settings",
                "tests.settings",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def poll(self):
        return self.proc.poll()

    def children(self) -> list[int]:
        """PIDs of the supervisor's child processes."""
        try:
            out = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in out.split()]

    def kill_all(self) -> None:
        """kill -9 the supervisor and all its children at once (the process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_all()
        else:
            # The supervisor is gone; make sure no orphaned child lingers.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


@pytest.fixture
def runtasks(request):
    """Start real ``runtasks`` subprocesses on the test database; stopped after the test."""
    started: list[WorkerProcess] = []
    LOGS.mkdir(parents=True, exist_ok=True)

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        prefix: tuple[str, ...] = (),
    ):
        """`prefix` goes before the command (``unshare --uts ...``: a host of its own)."""
        full_env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        log = LOGS / f"{request.node.name[:80]}-{len(started)}.log"
        worker = WorkerProcess(args, full_env, log, prefix)
        started.append(worker)
        if wait_ready and "--burst" not in args:
            _wait_until(
                lambda: (
                    "event=child-start" in worker.output()
                    or "event=start" in worker.output()
                    and "pool=prefork" not in worker.output()
                    or worker.poll() is not None
                ),
                30,
            )
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


@pytest.fixture
def wait_for():
    """``wait_for(lambda: cond, timeout=10)``: poll until true, fail with a deadline."""
    return _wait_until


@pytest.fixture
def second_connection(django_db_blocker):
    """A second real database connection (its own session) for lock tests."""
    from django.db import connections

    with django_db_blocker.unblock():
        conn = connections.create_connection("default")
        conn.connect()
        try:
            yield conn
        finally:
            conn.close()
