"""
Behind a real PgBouncer (Debian's package, 1.18) in transaction pooling mode: "views"
enqueue through it, workers claim and record through it, the supervisor LISTENs on a
direct connection (LISTEN_DATABASE), prepared statements are off (PREPARED_STATEMENTS).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from django_tasks import states
from django_tasks.models import TaskMessage
from tests.conftest import ROOT, database_url

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

INI = """\
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 100
ignore_startup_parameters = extra_float_digits,options
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pgbouncer():
    """A PgBouncer on a free local port in front of the test PostgreSQL; its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("pgbouncer is not installed (scripts/test.sh installs Debian's package).")
    from django.db import connection

    s = connection.settings_dict
    workdir = Path(tempfile.mkdtemp(prefix="dt-pgbouncer-"))
    workdir.chmod(0o755)  # PgBouncer drops root for the postgres user, who reads it
    port = _free_port()
    (workdir / "pgbouncer.ini").write_text(
        INI.format(
            host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432, listen=port, dir=workdir
        )
    )
    user = s.get("USER") or "postgres"
    (workdir / "userlist.txt").write_text(f'"{user}" "{s.get("PASSWORD") or ""}"\n')
    for f in workdir.iterdir():
        f.chmod(0o644)
    as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
    log = open(workdir / "pgbouncer.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603 - fixed arguments
        [binary, *as_user, str(workdir / "pgbouncer.ini")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("pgbouncer did not start: " + (workdir / "pgbouncer.log").read_text())
            time.sleep(0.05)
        yield database_url().replace(f":{s.get('PORT') or 5432}/", f":{port}/")
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
        log.close()
        _wait_sessions_gone(connection)
        shutil.rmtree(workdir, ignore_errors=True)


def _added(state: str) -> int:
    return TaskMessage.objects.filter(name="tests.tasks.add", state=state).count()


def _wait_sessions_gone(connection) -> None:
    """PgBouncer's server sessions end a moment after it: the test database is dropped."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def _view(bouncer_url: str, code: str) -> None:
    """Run `code` as a web process would: Django settings behind PgBouncer."""
    env = {**os.environ, "DATABASE_URL": database_url(), "PGBOUNCER_DATABASE_URL": bouncer_url}
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "--settings",
            "tests.pgbouncer_settings",
            "-c",
            code,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_enqueue_and_workers_through_pgbouncer_in_transaction_pooling(
    pgbouncer, runtasks, wait_for
):
    # One by one (ENQUEUE_ONE), a batch (unnest) and a large one (COPY), all through it.
    _view(
        pgbouncer,
        "from tests import tasks\n"
        "for i in range(20): tasks.add.delay(i, 1)\n"
        "tasks.add.enqueue_many([(i, 2) for i in range(50)])\n"
        "tasks.add.enqueue_many([(i, 3) for i in range(600)])\n",
    )
    assert TaskMessage.objects.filter(name="tests.tasks.add").count() == 670
    env = {"PGBOUNCER_DATABASE_URL": pgbouncer}
    worker = runtasks("-c", "2", "--settings", "tests.pgbouncer_settings", env=env)
    wait_for(lambda: _added(states.SUCCESS) == 670, 60)
    assert "event=wakeups mode=listen listen_database=direct" in worker.output()
    # Idle now: a new task wakes it through the direct LISTEN, well before the safety poll.
    time.sleep(1.5)
    began = time.monotonic()
    _view(pgbouncer, "from tests import tasks\ntasks.add.delay(40, 2)\n")
    wait_for(lambda: _added(states.SUCCESS) == 671, 30)
    took = time.monotonic() - began
    assert took < 5, worker.output()
    assert "Error" not in worker.output(), worker.output()
