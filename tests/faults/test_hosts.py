"""
Recovery as hosts see it: workers in UTS namespaces of their own (``unshare --uts``, each
with its own host name) on this machine, and sibling workers on one host.

A worker on another host knows a dead one only by its heartbeat: it recovers the rows
after HEARTBEAT_TIMEOUT, counting every row the dead one held as started (its start marker
cannot be read from there), so an acks-early task fails with WorkerLostError and never
runs twice. A sibling on the same host sees the dead supervisor's pid is gone and recovers
within one heartbeat interval. Both print the time they took (pytest -s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from django_tasks import conf, states
from django_tasks.models import TaskMessage, Worker
from tests import tasks
from tests.models import Start

pytestmark = [pytest.mark.django_db(transaction=True)]

LOST = "django_tasks.exceptions.WorkerLostError"


def _host(name: str) -> tuple[str, ...]:
    """A command prefix that runs the worker in a UTS namespace named `name`."""
    return ("unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh")


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        [*_host("probe"), "hostname"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0 and probe.stdout.strip() == "probe"


def _lost(task_id: str) -> float | None:
    """The time the row ended FAILURE with WorkerLostError (None while it has not)."""
    row = TaskMessage.objects.get(id=task_id)
    if row.state == states.FAILURE and row.exc_type == LOST:
        return time.monotonic()
    return None


def test_a_worker_on_another_host_recovers_a_killed_hosts_rows_after_the_timeout(
    runtasks, wait_for
):
    if not _can_unshare():
        pytest.fail("unshare --uts needs root and util-linux here; the test cannot run.")
    running = tasks.record_slow.delay("cross-host", 60)
    host_a = runtasks("-c", "1", prefix=_host("host-a"))
    wait_for(lambda: Start.objects.filter(key="cross-host").exists(), 30)
    assert set(Worker.objects.values_list("hostname", flat=True)) == {"host-a"}
    host_b = runtasks("-c", "1", prefix=_host("host-b"))
    wait_for(lambda: Worker.objects.filter(hostname="host-b").count() == 2, 30)
    host_a.kill_all()
    killed = time.monotonic()
    recovered = wait_for(lambda: _lost(running.id), conf.get("HEARTBEAT_TIMEOUT") + 20)
    took = recovered - killed
    print(
        f"\ncross-host recovery: {took:.2f} s after kill -9 (HEARTBEAT_TIMEOUT "
        f"{conf.get('HEARTBEAT_TIMEOUT')} s)"
    )
    # Not before the dead host's heartbeat went stale (its last beat was at most one
    # interval before the kill), and not much after.
    timeout, interval = conf.get("HEARTBEAT_TIMEOUT"), conf.get("HEARTBEAT_INTERVAL")
    assert timeout - interval - 0.5 <= took <= timeout + 3 * interval + 5
    assert "host=host-a" in host_b.output() and "event=dead" in host_b.output()
    # The body started once and never again: acks early.
    time.sleep(2 * interval)
    assert Start.objects.filter(key="cross-host").count() == 1
    assert not Worker.objects.filter(hostname="host-a").exists()


def test_a_sibling_on_the_same_host_recovers_a_dead_supervisor_within_a_heartbeat(
    runtasks, wait_for
):
    running = tasks.record_slow.delay("same-host", 60)
    first = runtasks("-c", "1")
    wait_for(lambda: Start.objects.filter(key="same-host").exists(), 30)
    second = runtasks("-c", "1")
    wait_for(lambda: Worker.objects.count() == 4, 30)
    first.kill_all()
    killed = time.monotonic()
    interval = conf.get("HEARTBEAT_INTERVAL")
    recovered = wait_for(lambda: _lost(running.id), conf.get("HEARTBEAT_TIMEOUT"))
    took = recovered - killed
    print(f"\nsame-host recovery: {took:.2f} s after kill -9 (HEARTBEAT_INTERVAL {interval} s)")
    # One heartbeat interval, plus the time to notice and write on a loaded machine.
    assert took <= interval + 1.0, second.output()
    assert Start.objects.filter(key="same-host").count() == 1
