"""
Fault tests: real runtasks processes, real kill -9, lost database connections.

Each test prints the counts it saw (run pytest with -s to read them) and is bounded in time.
DESIGN.md's "Delivery semantics" is what they check: acks early never runs a started task
twice (it ends FAILURE with WorkerLostError when its worker dies), acks_late redelivers,
claimed-not-started work goes back to the queue, nothing is left held by a dead worker.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections import Counter

import pytest
from django.db import connection

from django_tasks import states
from django_tasks.models import TaskMessage
from tests import tasks
from tests.models import Execution, Start

pytestmark = [pytest.mark.django_db(transaction=True)]

LOST = "django_tasks.exceptions.WorkerLostError"


def _states(ids=None) -> Counter:
    qs = TaskMessage.objects.all()
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return Counter(qs.values_list("state", flat=True))


def _all_final(n: int) -> bool:
    return TaskMessage.objects.filter(state__in=states.FINISHED_STATES).count() >= n


def _failures() -> Counter:
    return Counter(
        TaskMessage.objects.filter(state=states.FAILURE).values_list("exc_type", flat=True)
    )


@pytest.mark.postgresql
@pytest.mark.mysql
def test_kill_a_random_child_every_second_loses_nothing_and_runs_nothing_twice(runtasks, wait_for):
    # A few milliseconds per body keep the drain long enough for several kills.
    early = tasks.record.enqueue_many([((f"e{i}", 0.003), {}) for i in range(2500)])
    late = tasks.record_late.enqueue_many([((f"l{i}", 0.003), {}) for i in range(2500)])
    workers = [runtasks("-c", "2"), runtasks("-c", "2")]
    kills = 0
    deadline = time.monotonic() + 50
    while not _all_final(5000) and time.monotonic() < deadline:
        time.sleep(1)
        children = [pid for w in workers for pid in w.children()]
        if children:
            import os

            try:
                os.kill(random.choice(children), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
    wait_for(lambda: _all_final(5000), timeout=30)
    early_states = _states([r.id for r in early])
    late_states = _states([r.id for r in late])
    failures = _failures()
    print(
        f"\nkills={kills} early={dict(early_states)} late={dict(late_states)} "
        f"failures={dict(failures)} executions={Execution.objects.count()}"
    )
    assert kills >= 3
    assert sum(early_states.values()) == 2500 and sum(late_states.values()) == 2500
    # acks early: done, or failed because its worker died while it ran; never run twice
    # (a second run would have hit the unique key and failed with IntegrityError).
    assert set(early_states) <= {states.SUCCESS, states.FAILURE}
    assert set(failures) <= {LOST}
    # acks late: every one completed, redelivered where its worker died.
    assert late_states == Counter({states.SUCCESS: 2500})
    done_early = {
        args[0]
        for args in TaskMessage.objects.filter(
            id__in=[r.id for r in early], state=states.SUCCESS
        ).values_list("args", flat=True)
    }
    executed = set(Execution.objects.filter(key__startswith="e").values_list("key", flat=True))
    assert done_early <= executed
    assert Execution.objects.filter(key__startswith="l").count() == 2500
    assert not TaskMessage.objects.exclude(state__in=states.FINISHED_STATES).exists()


def test_kill_whole_worker_then_a_new_worker_finishes_everything(runtasks, wait_for):
    for i in range(6):
        tasks.record_slow.delay(f"e{i}", 0.4)
        tasks.record_late.delay(f"l{i}", 0.4)
    first = runtasks("-c", "2")
    wait_for(lambda: Start.objects.count() >= 2, timeout=20)
    time.sleep(0.1)
    first.kill_all()
    started = set(Start.objects.values_list("key", flat=True))
    finished = set(Execution.objects.values_list("key", flat=True))
    second = runtasks("-c", "2")
    wait_for(lambda: _all_final(12), timeout=40)
    second.stop()
    rows = {r.args[0]: r for r in TaskMessage.objects.all()}
    starts = Counter(Start.objects.values_list("key", flat=True))
    lost = {k for k, r in rows.items() if r.state == states.FAILURE}
    print(
        f"\nstarted_at_kill={sorted(started)} finished_at_kill={sorted(finished)} "
        f"lost={sorted(lost)} states={Counter(r.state for r in rows.values())}"
    )
    running = started - finished
    assert running  # the kill happened mid-run
    # acks early: a task whose body had started ends FAILURE/WorkerLostError, never runs
    # twice; one that had not started (claimed or waiting) went back and ran to SUCCESS.
    assert (
        {k for k in running if k.startswith("e")}
        <= lost
        <= {k for k in started if k.startswith("e")}
    )
    assert all(rows[k].exc_type == LOST for k in lost)
    assert all(rows[k].state == states.SUCCESS for k in rows if k not in lost)
    assert all(n == 1 for k, n in starts.items() if k.startswith("e"))
    # acks late: every one completed; those running at the kill were redelivered.
    assert all(rows[f"l{i}"].state == states.SUCCESS for i in range(6))
    assert all(rows[k].redelivered and starts[k] == 2 for k in running if k.startswith("l"))


def _cut_other_connections() -> int:
    """Close every other connection to the test database from the server's side."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM information_schema.PROCESSLIST "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        killed = 0
        for (thread,) in cursor.fetchall():
            with contextlib.suppress(Exception):  # it closed meanwhile
                cursor.execute(f"KILL CONNECTION {int(thread)}")
                killed += 1
        return killed


@pytest.mark.postgresql
@pytest.mark.mysql
def test_lost_database_connections_during_a_drain_lose_nothing(runtasks, wait_for):
    results = tasks.record.enqueue_many([((f"k{i}",), {}) for i in range(3000)])
    worker = runtasks("-c", "2")
    terminated = 0
    for round_ in range(3):
        done = 300 + round_ * 400
        wait_for(lambda done=done: Execution.objects.count() > done, timeout=30)
        terminated += _cut_other_connections()
    wait_for(lambda: _all_final(3000), timeout=60)
    counts = _states([r.id for r in results])
    failures = _failures()
    print(
        f"\nterminated_backends={terminated} states={dict(counts)} failures={dict(failures)} "
        f"executions={Execution.objects.count()}"
    )
    assert terminated >= 3
    assert sum(counts.values()) == 3000
    assert "event=db-lost" in worker.output()
    # Nothing ran twice: a second run hits the unique key and fails with IntegrityError.
    assert not any("IntegrityError" in t for t in failures)
    success = TaskMessage.objects.filter(state=states.SUCCESS).count()
    assert Execution.objects.count() >= success
    # A body whose connection was cut fails with the database error; nothing else fails.
    assert set(failures) <= {
        LOST,
        "django.db.utils.OperationalError",
        "django.db.utils.InterfaceError",
    }


def test_twenty_thousand_tasks_on_four_processes_each_run_exactly_once(runtasks, vendor):
    # SQLite, the single-writer path, proves the same on a tenth of the load; MariaDB/MySQL
    # on a quarter (a durable InnoDB commit per claim and per finish drains ~500-700/s on
    # this shared 2-core machine). The timeout only catches a worker that hangs: speed is the
    # benchmark's business, and the drain takes ~45 s here on a quiet machine, more under load.
    n = {"postgresql": 20000, "mysql": 5000}.get(vendor, 2000)
    results = tasks.record.enqueue_many([((f"u{i}",), {}) for i in range(n)])
    began = time.monotonic()
    workers = [runtasks("--burst", "-c", "2"), runtasks("--burst", "-c", "2")]
    for w in workers:
        assert w.wait(timeout=240) == 0
    elapsed = time.monotonic() - began
    counts = _states([r.id for r in results])
    print(f"\nstates={dict(counts)} executions={Execution.objects.count()} elapsed={elapsed:.1f}s")
    assert counts == Counter({states.SUCCESS: n})
    assert Execution.objects.count() == n


def test_hard_time_limit_kills_the_child_and_the_worker_goes_on(runtasks, wait_for):
    slow = tasks.sleep_for.apply_async((30,), time_limit=1)
    after = tasks.add.delay(1, 1)
    worker = runtasks("-c", "1")
    wait_for(lambda: slow.state == states.FAILURE, timeout=15)
    assert TaskMessage.objects.get(id=slow.id).exc_type == (
        "django_tasks.exceptions.TimeLimitExceeded"
    )
    assert after.get(timeout=15) == 2
    assert "reason=time-limit" in worker.output()


def test_soft_time_limit_raises_inside_the_task_so_it_can_clean_up(runtasks):
    result = tasks.soft_limited.delay(5)
    runtasks("--burst", "-c", "1").wait(timeout=30)
    assert result.get(timeout=1) == "cleaned up"


def test_revoke_terminate_kills_a_running_task_and_ends_it_revoked(runtasks, wait_for):
    running = tasks.record_slow.delay("r", 30)
    worker = runtasks("-c", "1")
    wait_for(lambda: Start.objects.filter(key="r").exists(), timeout=15)
    running.revoke(terminate=True)
    wait_for(lambda: "reason=terminate" in worker.output(), timeout=10)
    assert running.state == states.REVOKED
    assert tasks.add.delay(2, 2).get(timeout=15) == 4
    assert not Execution.objects.filter(key="r").exists()


def test_revoke_of_a_waiting_task_means_it_never_runs(runtasks):
    waiting = tasks.record.apply_async(("w",), countdown=1)
    waiting.revoke()
    time.sleep(1.2)
    runtasks("--burst", "-c", "1").wait(timeout=30)
    assert waiting.state == states.REVOKED
    assert not Execution.objects.filter(key="w").exists()


def test_warm_shutdown_lets_the_running_task_finish(runtasks, wait_for):
    result = tasks.record_slow.delay("warm", 1.5)
    queued = [tasks.add.delay(i, i) for i in range(3)]
    worker = runtasks("-c", "1")
    wait_for(lambda: Start.objects.filter(key="warm").exists(), timeout=15)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert result.state == states.SUCCESS
    # Claimed-not-started work is back in the queue, not held by the stopped worker.
    assert not TaskMessage.objects.filter(
        id__in=[q.id for q in queued], state__in=states.HELD_STATES
    ).exists()


def test_second_signal_is_a_cold_shutdown_and_the_running_task_is_lost(runtasks, wait_for):
    result = tasks.record_slow.delay("cold", 30)
    worker = runtasks("-c", "1")
    wait_for(lambda: Start.objects.filter(key="cold").exists(), timeout=15)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 1
    assert result.state == states.FAILURE
    assert TaskMessage.objects.get(id=result.id).exc_type == LOST


def test_a_child_that_dies_mid_task_is_replaced_and_its_task_fails_at_once(runtasks, wait_for):
    crashed = tasks.crash.delay()
    worker = runtasks("-c", "1")
    wait_for(lambda: crashed.state == states.FAILURE, timeout=10)
    assert TaskMessage.objects.get(id=crashed.id).exc_type == LOST
    assert tasks.add.delay(3, 4).get(timeout=15) == 7
    assert "exitcode=13" in worker.output()


def test_an_acks_late_task_whose_child_dies_is_redelivered(runtasks, wait_for):
    result = tasks.record_late.delay("redeliver", 1.0)
    worker = runtasks("-c", "1")
    wait_for(lambda: Start.objects.filter(key="redeliver").exists(), timeout=15)
    (child,) = worker.children()
    import os

    os.kill(child, signal.SIGKILL)
    wait_for(lambda: result.state == states.SUCCESS, timeout=20)
    row = TaskMessage.objects.get(id=result.id)
    assert row.redelivered
    assert Start.objects.filter(key="redeliver").count() == 2


def test_max_tasks_per_child_replaces_children(runtasks):
    results = [tasks.context.delay() for _ in range(6)]
    runtasks("--burst", "-c", "1", "--max-tasks-per-child", "2").wait(timeout=60)
    pids = {r.get(timeout=1)["pid"] for r in results}
    assert len(pids) == 3
