"""Benchmark adapter for PgQueuer (asyncio, PostgreSQL, LISTEN/NOTIFY).

How the peer is driven
----------------------
* Database ``bench_pgqueuer``; ``setup()`` drops the ``public`` schema and runs
  PgQueuer's installer (``Queries.install()``, default durability).
* Enqueueing uses PgQueuer's normal API over one asyncpg connection (its
  recommended driver): ``await queries.enqueue("noop", None)`` per task (one
  autocommit statement each), and for the bulk API the list form
  ``queries.enqueue(["noop"] * k, [None] * k, [0] * k)`` (one statement per
  ``BULK_CHUNK`` tasks).
* Workers are PgQueuer's own CLI runner,
  ``python -m pgqueuer run bench.peers.pgqueuer:create_worker``, where
  ``create_worker`` is the documented async-context-manager factory building a
  ``QueueManager`` with the ``noop`` and ``stamp`` entrypoints.

Measured configuration (its best on 2 cores)
--------------------------------------------
``WORKER_PROCS`` = 2 worker processes (one per core) with PgQueuer's default
batching: ``--batch-size 10`` (jobs dequeued per query), completions flushed
to the log table in buffered batches (size = batch size, or every 0.1 s).
Concurrency note: PgQueuer has no per-process "concurrency" knob like the
other peers.  Each process runs every job of a dequeued batch as an asyncio
task, so up to ~batch-size jobs are in flight per process; entrypoints use the
default ``concurrency_limit=0`` (unlimited) and there is no
``--max-concurrent-tasks`` cap.  "Concurrency 2" therefore means 2 processes
here.  A bare ``QueueManager`` is used rather than the ``PgQueuer`` wrapper,
which also runs the (here unused) cron scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

# Absolute imports: this module is ``bench.peers.pgqueuer``, the real package
# is the top-level ``pgqueuer``.
import asyncpg
from pgqueuer import Job, QueueManager
from pgqueuer.queries import Queries

from bench.peers import _common as c

PEER = "pgqueuer"
DB = c.db_name(PEER)
WORKER_PROCS = 2
BATCH_SIZE = 10  # PgQueuer's default --batch-size
BULK_CHUNK = 10_000  # tasks per list-form enqueue call


@contextlib.asynccontextmanager
async def create_worker() -> AsyncIterator[QueueManager]:
    """Factory run by ``pgqueuer run`` in each worker process."""
    conn = await asyncpg.connect(c.dsn_url(DB))
    qm = QueueManager(Queries.from_asyncpg_connection(conn))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        """The benchmark's no-op task."""

    @qm.entrypoint("stamp")
    async def stamp(job: Job) -> None:
        """Latency probe: record the start time first thing (see _common)."""
        c.push_stamp(PEER, job.payload.decode())

    try:
        yield qm
    finally:
        await conn.close()


def version() -> str:
    return c.version_of("pgqueuer", "asyncpg")


def config() -> dict:
    return {
        "worker": "pgqueuer run (CLI), QueueManager, asyncpg, LISTEN/NOTIFY",
        "worker_processes": WORKER_PROCS,
        "batch_size": BATCH_SIZE,
        "concurrency_per_process": "unlimited asyncio tasks (~batch size in flight)",
        "task": "async def no-op entrypoint",
    }


class _Client:
    """One asyncpg connection + Queries, driven from synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(asyncpg.connect(c.dsn_url(DB)))
        self.queries = Queries.from_asyncpg_connection(self.conn)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.conn.close())
        self.loop.close()


@contextlib.contextmanager
def _client() -> AsyncIterator[_Client]:
    client = _Client()
    try:
        yield client
    finally:
        client.close()


def _tables() -> list[str]:
    return c.public_tables(DB, "pgqueuer")


def reset() -> None:
    """Empty PgQueuer's tables, then VACUUM ANALYZE the database (autovacuum is off on
    the benchmark server, so dead tuples would otherwise pile up)."""
    c.truncate(DB, _tables())


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    with _client() as cl:
        cl.run(cl.queries.install())
    reset()


async def _enqueue_bulk(q: Queries, n: int) -> None:
    left = n
    while left:
        k = min(left, BULK_CHUNK)
        await q.enqueue(["noop"] * k, [None] * k, [0] * k)
        left -= k


def enqueue_one(n: int) -> float:
    reset()

    async def one_by_one(q: Queries) -> None:
        for _ in range(n):
            await q.enqueue("noop", None)

    with _client() as cl:
        elapsed = c.timer()
        cl.run(one_by_one(cl.queries))
        secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    reset()
    with _client() as cl:
        elapsed = c.timer()
        cl.run(_enqueue_bulk(cl.queries, n))
        secs = elapsed()
    return c.rate(n, secs)


def _worker_commands() -> list[list[str]]:
    return [
        [
            c.py(),
            "-m",
            "pgqueuer",
            "run",
            "bench.peers.pgqueuer:create_worker",
            "--batch-size",
            str(BATCH_SIZE),
            "--log-level",
            "WARNING",
        ]
        for _ in range(WORKER_PROCS)
    ]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(_worker_commands(), label=PEER)


def drain(n: int) -> dict:
    reset()
    with _client() as cl:
        cl.run(_enqueue_bulk(cl.queries, n))
    # Fresh statistics for the n queued rows before the workers start
    # (autovacuum is off on the benchmark server).
    c.vacuum_analyze(DB)
    with c.pg(DB) as conn:

        def remaining() -> int:
            # Finished jobs are deleted from the queue table (and logged).
            return conn.execute("SELECT count(*) FROM pgqueuer").fetchone()[0]

        result = c.timed_drain(n, remaining=remaining, workers_factory=_workers)
        failed = conn.execute(
            "SELECT count(*) FROM pgqueuer_log"
            " WHERE status NOT IN ('queued', 'picked', 'successful')"
        ).fetchone()[0]
    if failed:
        raise c.BenchError(f"{failed} pgqueuer jobs did not succeed")
    return result


def latency(samples: int) -> dict:
    reset()
    with _client() as cl, _workers() as workers:
        return c.measure_latency(
            PEER,
            lambda token: cl.run(cl.queries.enqueue("stamp", token.encode())),
            samples,
            workers=workers,
        )
