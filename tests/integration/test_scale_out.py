"""
Scaling out: a worker's connections (one per consumer plus the supervisor's two), and its
consumers woken through the supervisor's pipe, one per notification, on every pool.
"""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection

from django_tasks import states
from django_tasks.models import Worker
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def _other_connections() -> int:
    """Sessions on the test database besides this test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgresql
@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_runtasks_c4_holds_at_most_six_connections(runtasks, wait_for, pool):
    """-c 4: four consumers, the supervisor's working connection and its LISTEN one."""
    worker = runtasks("-P", pool, "-c", "4")
    wait_for(lambda: Worker.objects.count() == 5, 30)
    # Every consumer has claimed (and gone idle) once it ran a task: all connections open.
    results = [tasks.add.delay(i, i) for i in range(20)]
    assert [r.get(timeout=30) for r in results] == [i * 2 for i in range(20)]
    time.sleep(1.0)
    counts = [_other_connections() for _ in range(5)]
    assert max(counts) <= 6, (counts, worker.output())
    assert "event=wakeups mode=listen" in worker.output()


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_an_idle_consumer_is_woken_well_before_its_safety_poll(runtasks, pool):
    """No consumer listens on its own: the supervisor's wake-up starts the task at once."""
    worker = runtasks("-P", pool, "-c", "2")
    tasks.add.delay(0, 0).get(timeout=30)  # the worker is up and idle again
    time.sleep(1.5)
    times = []
    for i in range(5):
        began = time.monotonic()
        assert tasks.add.delay(i, 1).get(timeout=20) == i + 1
        times.append(time.monotonic() - began)
    # The safety poll is 10 s with NOTIFY, 1 s polling (SQLite's data version wakes sooner).
    assert max(times) < 0.9, (times, worker.output())


def test_a_large_enqueue_brings_in_every_consumer(runtasks, wait_for):
    """One notification wakes one consumer; a full claim passes the wake-up on."""
    runtasks("-c", "2")
    # Fresh consumers claim one row at a time: a full claim, so each passes the wake-up on.
    wait_for(lambda: Worker.objects.count() == 3, 30)
    time.sleep(1.5)
    results = tasks.sleep_for.enqueue_many([(0.2,)] * 20)
    wait_for(lambda: all(r.state == states.SUCCESS for r in results), 20)
    from django_tasks.models import TaskMessage

    workers = set(
        TaskMessage.objects.filter(name="tests.tasks.sleep_for").values_list("worker", flat=True)
    )
    assert len(workers) == 2, workers


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "LISTEN_DATABASE",
            "nowhere",
            "None (listen on DATABASE), False (poll), or the alias of a database in DATABASES",
        ),
        ("LISTEN_DATABASE", True, "None (listen on DATABASE), False (poll)"),
        ("PREPARED_STATEMENTS", "no", "True or False"),
    ],
)
def test_bad_scale_out_settings_name_the_key(settings, key, value, expected):
    from django.core.exceptions import ImproperlyConfigured

    from django_tasks import conf

    settings.DJANGO_TASKS = {**settings.DJANGO_TASKS, key: value}
    with pytest.raises(ImproperlyConfigured, match=re.escape(f"DJANGO_TASKS[{key!r}]")) as err:
        conf.get(key)
    assert expected in str(err.value)
