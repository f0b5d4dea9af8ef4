"""Benchmark adapter for django-ox (a database backend and worker for
Django's ``django.tasks``: "Django tasks in your database, with retries and
automatic recovery when a worker dies"), the second peer of that kind after
django-tasks-db.

How the peer is driven
----------------------
* Database ``bench_django_ox``; settings in ``_django_ox_settings.py`` (only
  ``django_ox`` installed, PostgreSQL via psycopg 3, ``CONN_MAX_AGE=600``,
  ``TASKS`` backend ``django_ox.backend.OxBackend``), tasks in
  ``_django_ox_tasks.py``.  ``setup()`` drops the ``public`` schema and runs
  ``migrate``.
* Enqueueing uses Django's normal API, ``noop.enqueue()``, in autocommit mode
  (one INSERT/commit per task), and for the bulk API django-ox's own
  ``django_ox.bulk.enqueue_many(noop, [((), {})] * k)`` (``bulk_create``, 1000
  rows per INSERT, one transaction per call of ``BULK_CHUNK`` tasks).
* Workers are the package's own management command,
  ``python -m django ox_worker``.  Each claim is one
  ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING *``; tasks run in a thread pool of ``--concurrency`` threads; a
  lease-renewal thread, a reaper and the schedule dispatcher run beside it.

Measured configuration
----------------------
``ox_worker --processes 2 --concurrency 1`` (its own supervisor, one worker
process per core, ``c.WORKER_CONCURRENCY`` in total; ``--procs 1`` measures
one process with ``--concurrency 2`` threads) and ``--interval``
``INTERVAL_S`` (0.1 s; default 1 s).  There is no LISTEN/NOTIFY: an idle
worker sleeps for the interval between claims, so it bounds latency; with a
backlog the worker claims until its slots are full and wakes as soon as a
task settles, so the interval does not limit the drain.  Everything else is
the defaults (lease 300 s, MAX_ATTEMPTS 3), log level WARNING (``-v 0``).
"""

from __future__ import annotations

import contextlib
import os
import random
import time

from bench.peers import _common as c

PEER = "django_ox"
DB = c.db_name(PEER)
SETTINGS = "bench.peers._django_ox_settings"
INTERVAL_S = float(os.environ.get("BENCH_OX_INTERVAL", "0.1"))  # default 1.0
WORKER_PROCS = 2
BULK_CHUNK = 10_000  # tasks per enqueue_many call

# Forced, not setdefault (see django_tasks_db.py).
os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS


def _django():
    """Set Django up (once) and return the tasks module."""
    import django

    django.setup()
    from bench.peers import _django_ox_tasks

    return _django_ox_tasks


def _table() -> str:
    _django()
    from django_ox.models import OxTask

    return OxTask._meta.db_table


def version() -> str:
    return c.version_of("django-ox", "Django", "psycopg")


def _per_proc() -> int:
    return max(1, c.WORKER_CONCURRENCY // WORKER_PROCS)


def config() -> dict:
    return {
        "worker": "manage.py ox_worker (polling, no LISTEN/NOTIFY)",
        "worker_processes": WORKER_PROCS,
        "concurrency_per_process": _per_proc(),
        "interval_s": INTERVAL_S,
        "conn_max_age": 600,
        "task": "def no-op (@django.tasks.task)",
    }


def _close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def reset() -> None:
    """Empty django-ox's tables, then VACUUM ANALYZE (autovacuum is off on the
    benchmark server)."""
    _close_django_connections()
    c.truncate(DB, c.public_tables(DB, "django_ox_"))


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    reset()


def _enqueue_bulk(tasks, n: int) -> None:
    from django_ox.bulk import enqueue_many

    left = n
    while left:
        k = min(left, BULK_CHUNK)
        enqueue_many(tasks.noop, [((), {})] * k)
        left -= k


def enqueue_one(n: int) -> float:
    tasks = _django()
    reset()
    tasks.noop.enqueue()  # connect outside the clock
    elapsed = c.timer()
    for _ in range(n):
        tasks.noop.enqueue()  # autocommit: one transaction per task
    secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    tasks = _django()
    reset()
    tasks.noop.enqueue()  # connect outside the clock
    elapsed = c.timer()
    _enqueue_bulk(tasks, n)
    secs = elapsed()
    return c.rate(n, secs)


def _worker_commands() -> list[list[str]]:
    return [
        [
            c.py(),
            "-m",
            "django",
            "ox_worker",
            "--processes",
            str(WORKER_PROCS),
            "--concurrency",
            str(_per_proc()),
            "--interval",
            str(INTERVAL_S),
            "-v",
            "0",
        ]
    ]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(
        _worker_commands(), label=PEER, env={"DJANGO_SETTINGS_MODULE": SETTINGS}
    )


def drain(n: int) -> dict:
    tasks = _django()
    reset()
    _enqueue_bulk(tasks, n)  # pre-fill; not part of the measure
    _close_django_connections()
    c.vacuum_analyze(DB)
    table = _table()
    with c.pg(DB) as conn:

        def remaining() -> int:
            return conn.execute(
                f"SELECT count(*) FROM {table} WHERE status IN ('READY', 'RUNNING')"
            ).fetchone()[0]

        result = c.timed_drain(n, remaining=remaining, workers_factory=_workers)
        failed = conn.execute(
            f"SELECT count(*) FROM {table} WHERE status <> 'SUCCESSFUL'"
        ).fetchone()[0]
    if failed:
        raise c.BenchError(f"{failed} django-ox tasks did not succeed")
    return result


def latency(samples: int) -> dict:
    tasks = _django()
    reset()
    with _workers() as workers:
        return c.measure_latency(
            PEER,
            lambda token: tasks.stamp.enqueue(token),
            samples,
            workers=workers,
            # Spread samples over the workers' polling phase.
            pause=lambda: time.sleep(random.uniform(0.01, 0.01 + INTERVAL_S)),
        )
