"""Periodic ticks with real runtasks supervisors: exactly once, under kills, admin edits."""

from __future__ import annotations

import re
import signal
import time
from datetime import datetime

import pytest

from django_tasks import states
from django_tasks.models import PeriodicTask, TaskMessage
from tests.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def _ticks(name: str) -> list[datetime]:
    keys = Execution.objects.filter(key__startswith=f"{name}@").values_list("key", flat=True)
    return sorted(datetime.fromisoformat(k.split("@", 1)[1]) for k in keys)


def _entry(name: str, every: float = 1.0) -> PeriodicTask:
    return PeriodicTask.objects.create(name=name, task="tests.tasks.record_tick", interval=every)


def _assert_consecutive(ticks: list[datetime], name: str, workers: list) -> None:
    """
    One run per second with no gap, except where a supervisor logged a collapse: on a loaded
    machine a turn can come more than a tick late, and then the missed tick collapses into
    the late one, as after downtime. No tick goes missing silently.
    """
    pattern = rf"name={re.escape(name)} event=ticks-collapsed skipped=(\d+) tick=(\S+)"
    collapsed = {
        datetime.fromisoformat(m.group(2)): int(m.group(1))
        for w in workers
        for m in re.finditer(pattern, w.output())
    }
    for a, b in zip(ticks, ticks[1:], strict=False):
        gap = round((b - a).total_seconds(), 3)
        assert gap == 1.0 or gap == 1.0 + collapsed.get(a, -1), (a, gap, collapsed)


def test_three_supervisors_send_every_tick_exactly_once(runtasks, wait_for):
    _entry("every-second")
    workers = [runtasks("--concurrency", "1", "--pool", "threads") for _ in range(3)]
    wait_for(lambda: len(_ticks("every-second")) >= 1, timeout=30)
    time.sleep(20)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=30) == 0
    ticks = _ticks("every-second")
    # A second run of one tick would have failed on the unique key in the task body.
    assert not TaskMessage.objects.filter(name="tests.tasks.record_tick", state=states.FAILURE)
    assert len(ticks) >= 15, ticks
    _assert_consecutive(ticks, "every-second", workers)
    entry = PeriodicTask.objects.get(name="every-second")
    sent = TaskMessage.objects.filter(name="tests.tasks.record_tick").count()
    assert entry.total_run_count == sent >= len(ticks)
    senders = {w.output().count("event=sent") for w in workers}
    assert sum(w.output().count("name=every-second event=sent") for w in workers) == sent
    assert len(senders) >= 1


def test_killing_one_supervisor_keeps_the_ticks_going(runtasks, wait_for):
    _entry("survives-kill")
    workers = [runtasks("--concurrency", "1") for _ in range(3)]
    wait_for(lambda: len(_ticks("survives-kill")) >= 3, timeout=30)
    workers[0].kill_all()
    killed_at = len(_ticks("survives-kill"))
    wait_for(lambda: len(_ticks("survives-kill")) >= killed_at + 6, timeout=30)
    for worker in workers[1:]:
        worker.send_signal(signal.SIGTERM)
    for worker in workers[1:]:
        assert worker.wait(timeout=30) == 0
    ticks = _ticks("survives-kill")
    assert not TaskMessage.objects.filter(name="tests.tasks.record_tick", state=states.FAILURE)
    _assert_consecutive(ticks[killed_at:], "survives-kill", workers[1:])


def test_disabled_entry_stops_and_resumes_without_replaying_missed_ticks(
    runtasks, wait_for, admin_client
):
    entry = _entry("toggled")
    runtasks("--concurrency", "1", "--pool", "threads")
    wait_for(lambda: len(_ticks("toggled")) >= 2, timeout=30)
    url = "/admin/django_tasks/periodictask/"
    response = admin_client.post(url, {"action": "disable", "_selected_action": [entry.pk]})
    assert response.status_code == 302
    time.sleep(2.5)  # a tick in flight may still land
    stopped = len(_ticks("toggled"))
    time.sleep(4)
    assert len(_ticks("toggled")) == stopped
    paused_at = time.time()
    admin_client.post(url, {"action": "enable", "_selected_action": [entry.pk]})
    wait_for(lambda: len(_ticks("toggled")) >= stopped + 2, timeout=30)
    resumed = _ticks("toggled")[stopped:]
    # Nothing from the paused seconds was sent: the first new tick is after the re-enable.
    assert resumed[0].timestamp() > paused_at
    assert not TaskMessage.objects.filter(name="tests.tasks.record_tick", state=states.FAILURE)


def test_a_worker_without_beat_sends_nothing(runtasks, wait_for):
    _entry("nobody")
    worker = runtasks("--concurrency", "1", "--without-beat")
    time.sleep(3)
    assert not _ticks("nobody")
    assert "event=beat-sync" not in worker.output()
