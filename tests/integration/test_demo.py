"""The demo's site and worker (scripts/serve.sh, what ``make demo`` runs after set-up)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from django_tasks.worker.maintenance import process_exists

ROOT = Path(__file__).resolve().parents[2]


def _as_from_a_terminal() -> None:
    """
    SIGINT and SIGQUIT at their defaults, as in a terminal's shell. A suite started in the
    background (CI's `cmd &`) inherits them ignored, and bash can neither trap nor reset a
    signal ignored on entry: the demo's Ctrl-C trap would never run.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.sqlite
def test_ctrl_c_on_the_demo_is_one_warm_shutdown_and_exit_0(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PORT": str(port),
        "PYTHON": sys.executable,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
    }
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            ["/bin/bash", "scripts/serve.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            preexec_fn=_as_from_a_terminal,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:  # noqa: S310
                    assert page.status == 200
                break
            except OSError:
                assert demo.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        deadline = time.monotonic() + 30
        while "event=child-start" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        worker = re.search(r"worker running \(pid (\d+)\)", log.read_text())
        left = worker is not None and process_exists(int(worker.group(1)))
        if left:  # the worker has its own session: the group kill above misses it
            os.kill(int(worker.group(1)), signal.SIGKILL)
    assert not left, "Ctrl-C left the worker running"
    text = log.read_text()
    assert "DEBUG is on" in text and "127.0.0.1 only" in text
    assert f"http://127.0.0.1:{port}/admin/django_tasks/dashboard/" in text
    assert "event=warm-shutdown" in text
    assert "event=cold-shutdown" not in text
    assert "worker name=" in text and "event=stop" in text
