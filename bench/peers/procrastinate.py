"""Benchmark adapter for procrastinate (PostgreSQL task queue, psycopg 3).

How the peer is driven
----------------------
* Database ``bench_procrastinate``; ``setup()`` drops the ``public`` schema and
  applies procrastinate's own schema (``app.schema_manager.apply_schema()``).
* Enqueueing goes through procrastinate's normal synchronous API, the app
  opened with ``app.open()`` (a psycopg ``ConnectionPool`` under the hood):
  ``noop.defer()`` per task (each one its own transaction, autocommit style)
  and ``noop.batch_defer(*[{}] * n)`` for the bulk API (one statement, one
  transaction, chunked by ``BULK_CHUNK``).
* Workers are procrastinate's own CLI worker,
  ``python -m procrastinate --app=bench.peers.procrastinate.app worker``.

Measured configuration
----------------------
Concurrency 2 = ``WORKER_PROCS`` (2) worker processes x ``--concurrency``
``WORKER_CONCURRENCY // WORKER_PROCS`` (1).  On the 2-core machine one
process per core drained faster and far more steadily than one process with
``--concurrency 2``, whose single event loop is CPU-bound (run.py's
``--procs 1`` measures that variant).  Log level WARNING, as for every peer
(the CLI's default logs two lines per job).  Everything else is
procrastinate's defaults: LISTEN/NOTIFY on, fetch polling interval 5 s, jobs
kept (not deleted) after success.  Tasks are ``async def`` no-ops (the
cheapest path: procrastinate 3 runs sync tasks through ``sync_to_async``).
"""

from __future__ import annotations

import contextlib

# Absolute imports: this module is ``bench.peers.procrastinate``, the real
# package is the top-level ``procrastinate``.
import procrastinate

from bench.peers import _common as c

PEER = "procrastinate"
DB = c.db_name(PEER)
WORKER_PROCS = 2
BULK_CHUNK = 10_000  # tasks per batch_defer call

# The app imported by the worker processes (``--app=bench.peers.procrastinate.app``).
# Building it does not connect to anything.
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=c.conninfo(DB)))


@app.task(name="noop", queue="bench")
async def noop() -> None:
    """The benchmark's no-op task."""


@app.task(name="stamp", queue="bench")
async def stamp(token: str) -> None:
    """Latency probe: record the start time first thing (see _common)."""
    c.push_stamp(PEER, token)


def version() -> str:
    return c.version_of("procrastinate", "psycopg")


def config() -> dict:
    per_proc = max(1, c.WORKER_CONCURRENCY // WORKER_PROCS)
    return {
        "worker": "procrastinate worker (CLI), LISTEN/NOTIFY",
        "worker_processes": WORKER_PROCS,
        "concurrency_per_process": per_proc,
        "task": "async def no-op",
    }


def _tables() -> list[str]:
    return c.public_tables(DB, "procrastinate_")


def reset() -> None:
    """Empty procrastinate's tables, then VACUUM ANALYZE the database (autovacuum is off
    on the benchmark server, so dead tuples would otherwise pile up)."""
    c.truncate(DB, _tables())


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    with app.open():
        app.schema_manager.apply_schema()
    reset()


def enqueue_one(n: int) -> float:
    reset()
    with app.open():
        noop.defer()  # warm the pool outside the clock
        elapsed = c.timer()
        for _ in range(n):
            noop.defer()
        secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    reset()
    with app.open():
        noop.defer()  # warm the pool outside the clock
        elapsed = c.timer()
        left = n
        while left:
            k = min(left, BULK_CHUNK)
            noop.batch_defer(*([{}] * k))
            left -= k
        secs = elapsed()
    return c.rate(n, secs)


def _worker_commands() -> list[list[str]]:
    per_proc = max(1, c.WORKER_CONCURRENCY // WORKER_PROCS)
    return [
        [
            c.py(),
            "-m",
            "procrastinate",
            "--app=bench.peers.procrastinate.app",
            # The CLI logs two INFO lines per job by default; all peers run at
            # WARNING so no worker pays for per-task logging.
            "--log-level",
            "warning",
            "worker",
            "--name",
            f"bench-{i}",
            "--concurrency",
            str(per_proc),
        ]
        for i in range(WORKER_PROCS)
    ]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(_worker_commands(), label=PEER)


def drain(n: int) -> dict:
    reset()
    with app.open():
        noop.batch_defer(*([{}] * n))
    # Fresh statistics for the n queued rows before the workers start
    # (autovacuum is off on the benchmark server).
    c.vacuum_analyze(DB)
    with c.pg(DB) as conn:

        def remaining() -> int:
            return conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            ).fetchone()[0]

        result = c.timed_drain(n, remaining=remaining, workers_factory=_workers)
        failed = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
        ).fetchone()[0]
    if failed:
        raise c.BenchError(f"{failed} procrastinate jobs did not succeed")
    return result


def latency(samples: int) -> dict:
    reset()
    with app.open(), _workers() as workers:
        return c.measure_latency(
            PEER, lambda token: stamp.defer(token=token), samples, workers=workers
        )
