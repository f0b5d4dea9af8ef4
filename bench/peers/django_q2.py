"""Benchmark adapter for django-q2 (multiprocessing Django task queue), with
its ORM broker: the database is the queue, as for us.

How the peer is driven
----------------------
* Database ``bench_django_q2``; settings in ``_django_q2_settings.py``
  (only ``django_q`` installed, PostgreSQL via psycopg 3,
  ``CONN_MAX_AGE=600``), task functions in ``_django_q2_tasks.py``.
  ``setup()`` drops the ``public`` schema and runs ``migrate``.
* Enqueueing uses django-q2's normal API,
  ``async_task("bench.peers._django_q2_tasks.noop")``, in autocommit mode
  (the ORM broker INSERTs one signed ``OrmQ`` row per task).  django-q2 has
  no bulk enqueue (``async_iter`` is one task that maps a function over an
  iterable, not n tasks), so ``enqueue_bulk`` returns None; the drain
  workload pre-fills its queue with ``async_task()`` calls inside one
  transaction (not timed).
* Workers are the package's own cluster, ``python -m django qcluster``: one
  sentinel process forking a pusher (dequeues from the broker into a
  multiprocessing queue), ``workers`` worker processes and a monitor (saves
  each result as a ``Task`` row, then acknowledges, i.e. DELETEs, the
  ``OrmQ`` row).  A task is done when its ``OrmQ`` row is gone.

Measured configuration
----------------------
One ``qcluster`` with ``workers=2`` (``c.WORKER_CONCURRENCY``), the ORM
broker on the default database, and its documented knobs set for speed:
``poll`` ``POLL_S`` (0.1 s; default 0.2 s: how long the pusher sleeps when
the queue is empty -- there is no LISTEN/NOTIFY, so this bounds latency),
``bulk`` ``BULK`` (10; default 1: tasks taken per dequeue query; the
broker still locks each with its own UPDATE), ``save_limit=0`` (keep every
result, no pruning: the default 250 runs a ``SELECT ... FOR UPDATE`` over
all saved successes for every result), ``scheduler`` off,
``timeout=30``/``retry=60``, log level WARNING.  ``recycle`` stays at its
default (a worker process is replaced after 500 tasks).
"""

from __future__ import annotations

import contextlib
import os
import random
import time

from bench.peers import _common as c

PEER = "django_q2"
DB = c.db_name(PEER)
SETTINGS = "bench.peers._django_q2_settings"
TASKS = "bench.peers._django_q2_tasks"

# Forced, not setdefault (see django_tasks_db.py).
os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS


def _django():
    import django

    django.setup()
    from django_q.tasks import async_task

    return async_task


def _settings() -> dict:
    _django()
    from django.conf import settings

    return settings.Q_CLUSTER


def version() -> str:
    return c.version_of("django-q2", "Django", "psycopg")


def config() -> dict:
    q = _settings()
    return {
        "worker": "manage.py qcluster (ORM broker, polling, no LISTEN/NOTIFY)",
        "cluster_processes": 1,
        "workers": q["workers"],
        "poll_s": q["poll"],
        "bulk": q["bulk"],
        "save_limit": q["save_limit"],
        "recycle": q.get("recycle", 500),
        "conn_max_age": 600,
        "task": "def no-op, enqueued by dotted path",
    }


def _tables() -> list[str]:
    return ["django_q_ormq", "django_q_task"]


def _close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def reset() -> None:
    """Empty the queue and result tables, then VACUUM ANALYZE (autovacuum
    is off on the benchmark server)."""
    _close_django_connections()
    c.truncate(DB, _tables())


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    reset()


def enqueue_one(n: int) -> float:
    async_task = _django()
    reset()
    async_task(f"{TASKS}.noop")  # connect outside the clock
    elapsed = c.timer()
    for _ in range(n):
        async_task(f"{TASKS}.noop")  # autocommit: one INSERT/commit per task
    secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    return None  # no bulk enqueue in django-q2


def _worker_commands() -> list[list[str]]:
    return [[c.py(), "-m", "django", "qcluster"]]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(
        _worker_commands(), label=PEER, env={"DJANGO_SETTINGS_MODULE": SETTINGS}
    )


def drain(n: int) -> dict:
    from django.db import transaction

    async_task = _django()
    reset()
    with transaction.atomic():  # pre-fill quickly; not part of the measure
        for _ in range(n):
            async_task(f"{TASKS}.noop")
    _close_django_connections()
    c.vacuum_analyze(DB)
    with c.pg(DB) as conn:

        def remaining() -> int:
            return conn.execute("SELECT count(*) FROM django_q_ormq").fetchone()[0]

        result = c.timed_drain(n, remaining=remaining, workers_factory=_workers)
        failed = conn.execute("SELECT count(*) FROM django_q_task WHERE NOT success").fetchone()[0]
        saved = conn.execute("SELECT count(*) FROM django_q_task").fetchone()[0]
    if failed:
        raise c.BenchError(f"{failed} django-q2 tasks failed")
    if saved != n:
        raise c.BenchError(f"{saved} django-q2 results saved for {n} tasks")
    return result


def latency(samples: int) -> dict:
    async_task = _django()
    reset()
    poll = float(_settings()["poll"])
    with _workers() as workers:
        return c.measure_latency(
            PEER,
            lambda token: async_task(f"{TASKS}.stamp", token),
            samples,
            workers=workers,
            # Spread samples over the pusher's polling phase.
            pause=lambda: time.sleep(random.uniform(0.01, 0.01 + poll)),
        )
