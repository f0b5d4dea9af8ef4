"""Benchmark adapter for django-tasks-db (the reference database backend for
Django 6's ``django.tasks``), i.e. the closest peer to our own project.

How the peer is driven
----------------------
* Database ``bench_django_tasks_db``; minimal settings in
  ``_django_settings.py`` (only ``django_tasks_db`` installed, PostgreSQL via
  psycopg 3, ``CONN_MAX_AGE=600``), tasks in ``_django_tasks.py``.
  ``setup()`` drops the ``public`` schema and runs ``migrate``.
* Enqueueing uses Django's normal API, ``noop.enqueue()``, in autocommit mode
  (one INSERT/commit per task).  Neither ``django.tasks`` nor django-tasks-db
  has a bulk enqueue API, so ``enqueue_bulk`` returns None; the drain
  workload pre-fills its queue with ``enqueue()`` calls inside one
  transaction (not timed).
* Workers are the package's own management command,
  ``python -m django db_worker`` (the real command name).  It has no
  concurrency option -- each process runs one task at a time -- so
  concurrency 2 = 2 ``db_worker`` processes.

Measured configuration
----------------------
2 processes (``c.WORKER_CONCURRENCY``) and ``--interval`` ``INTERVAL_S``
(the package default, 1 s: how long an idle worker sleeps before polling
again; there is no LISTEN/NOTIFY, so this dominates the latency figures).
The drain passes ``--no-startup-delay``, which skips a random 0-1 s
thundering-herd delay at start that would only add noise to its
worker-start-to-done clock.  The latency workload keeps that delay (the
default): it is what de-synchronises the two workers' polling loops --
started together without it they poll in lockstep and latency is ~1 s.
Latency samples are spaced by a random pause in [0, interval) so they sample
the polling phase evenly; hence the latency phase is usually cut short by
its time budget (see ``samples`` / ``truncated_after_s`` in the results).
Per task a worker runs SELECT ... FOR UPDATE SKIP LOCKED + claim UPDATE in
one transaction, then the result UPDATE.
"""

from __future__ import annotations

import contextlib
import os
import random
import time

from bench.peers import _common as c

PEER = "django_tasks_db"
DB = c.db_name(PEER)
SETTINGS = "bench.peers._django_settings"
INTERVAL_S = float(os.environ.get("BENCH_DTDB_INTERVAL", "1"))  # db_worker's default

# Forced, not setdefault: this process only ever runs this peer, and an
# inherited DJANGO_SETTINGS_MODULE (our project's) would be the wrong one.
os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS


def _django():
    """Set Django up (once) and return the tasks module."""
    import django

    django.setup()
    from bench.peers import _django_tasks

    return _django_tasks


def _table() -> str:
    """The task table (its app label is ``django_tasks_database``, kept from
    the days the backend lived in django-tasks)."""
    _django()
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult._meta.db_table


def version() -> str:
    return c.version_of("django-tasks-db", "Django", "psycopg")


def config() -> dict:
    return {
        "worker": "manage.py db_worker (polling, no LISTEN/NOTIFY)",
        "worker_processes": c.WORKER_CONCURRENCY,
        "concurrency_per_process": 1,
        "interval_s": INTERVAL_S,
        "startup_delay": "off for drain, on (default) for latency",
        "conn_max_age": 600,
        "task": "def no-op (@django.tasks.task)",
    }


def reset() -> None:
    """Empty the task table, then VACUUM ANALYZE the database (autovacuum is off on the
    benchmark server, so dead tuples would otherwise pile up)."""
    _close_django_connections()
    c.truncate(DB, [_table()])


def _close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    reset()


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
    return None  # no bulk enqueue in django.tasks / django-tasks-db


def _worker_commands(startup_delay: bool) -> list[list[str]]:
    return [
        [
            c.py(),
            "-m",
            "django",
            "db_worker",
            *([] if startup_delay else ["--no-startup-delay"]),
            "--interval",
            str(INTERVAL_S),
            "--worker-id",
            f"bench-{i}",
        ]
        for i in range(c.WORKER_CONCURRENCY)
    ]


def _workers(startup_delay: bool = False) -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(
        _worker_commands(startup_delay),
        label=PEER,
        env={"DJANGO_SETTINGS_MODULE": SETTINGS},
    )


def drain(n: int) -> dict:
    from django.db import transaction

    tasks = _django()
    reset()
    with transaction.atomic():  # pre-fill quickly; not part of the measure
        for _ in range(n):
            tasks.noop.enqueue()
    _close_django_connections()
    # Fresh statistics for the n queued rows before the workers start
    # (autovacuum is off on the benchmark server).
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
        raise c.BenchError(f"{failed} django-tasks-db tasks did not succeed")
    return result


def latency(samples: int) -> dict:
    tasks = _django()
    reset()
    with _workers(startup_delay=True) as workers:
        return c.measure_latency(
            PEER,
            lambda token: tasks.stamp.enqueue(token),
            samples,
            workers=workers,
            pause=lambda: time.sleep(random.uniform(0, INTERVAL_S)),
        )
