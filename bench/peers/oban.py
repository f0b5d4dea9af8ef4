"""Benchmark adapter for oban (the Python port of Elixir's Oban: asyncio,
PostgreSQL, psycopg 3, LISTEN/NOTIFY).

How the peer is driven
----------------------
* Database ``bench_oban``; ``setup()`` drops the ``public`` schema and runs
  oban's installer (``oban.schema.install(pool)``).
* Enqueueing uses oban's normal API from a client-mode ``Oban`` instance (no
  queues, so no producers or leadership) over a psycopg ``AsyncConnectionPool``:
  ``await Noop.enqueue()`` per task (one INSERT ... RETURNING with its
  ``pg_notify('oban_insert', ...)``, autocommit) and, for the bulk API,
  ``await oban.enqueue_many([Noop.new(), ...])`` (``BULK_CHUNK`` jobs per
  call: one transaction, but oban 0.7 still runs one INSERT + NOTIFY per job
  in it).  JSON goes through orjson, as the ``oban start`` CLI
  configures it.
* Workers are oban's own CLI, ``python -m oban start --queues bench:<limit>``;
  the jobs are ``@worker`` classes of this module, which the workers import
  by their name (``bench.peers.oban.Noop``).  A producer wakes on the insert
  notification (or a job's completion), fetches up to ``limit - running`` jobs
  with one ``UPDATE ... FOR UPDATE SKIP LOCKED`` and acks finished jobs in a
  batch before its next fetch (``completed`` rows are kept; the pruner only
  removes them after a day).

Measured configuration
----------------------
Concurrency 2 = ``WORKER_PROCS`` (2) ``oban start`` processes x queue limit
``WORKER_CONCURRENCY // WORKER_PROCS`` (1), one process per core as for
procrastinate and PgQueuer (each process is one asyncio event loop, CPU-bound
on no-op jobs; ``--procs 1`` measures one process with limit 2).  Log level
WARNING (the CLI default INFO logs every job).  Everything else is oban's
defaults: PostgreSQL notifier, producer debounce 5 ms, stager interval 1 s
(it only moves scheduled/retryable jobs; available jobs are announced by the
insert's NOTIFY), pool 1-10 connections.  Jobs are ``async def process``
no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

# Absolute imports: this module is ``bench.peers.oban``, the real package is
# the top-level ``oban``.
import orjson
from oban import Job, Oban, worker
from oban.schema import install
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from bench.peers import _common as c

PEER = "oban"
DB = c.db_name(PEER)
QUEUE = "bench"
WORKER_PROCS = 2
BULK_CHUNK = 5_000  # jobs per enqueue_many call


# Class workers (``@worker``), not ``@job`` functions: in oban 0.7.0 a
# ``@job`` function's ``.enqueue(...)`` passes its bound-arguments dict back
# through the signature-checking ``new()`` as one positional argument, so
# ``Noop.enqueue()`` raises "too many positional arguments" and
# ``stamp.enqueue(t)`` stores ``{"token": {"token": t}}``.


@worker(queue=QUEUE)
class Noop:
    """The benchmark's no-op job."""

    async def process(self, job: Job) -> None:
        return None


@worker(queue=QUEUE)
class Stamp:
    """Latency probe: record the start time first thing (see _common)."""

    async def process(self, job: Job) -> None:
        c.push_stamp(PEER, job.args["token"])


def version() -> str:
    return c.version_of("oban", "psycopg")


def _limit() -> int:
    return max(1, c.WORKER_CONCURRENCY // WORKER_PROCS)


def config() -> dict:
    return {
        "worker": "oban start (CLI), asyncio, LISTEN/NOTIFY",
        "worker_processes": WORKER_PROCS,
        "queue_limit_per_process": _limit(),
        "task": "async no-op process() (@oban.worker class)",
    }


class _Client:
    """A client-mode Oban instance and its pool, driven from synchronous code."""

    def __init__(self) -> None:
        set_json_dumps(orjson.dumps)  # what `oban start` does
        set_json_loads(orjson.loads)
        self.loop = asyncio.new_event_loop()
        self.pool = AsyncConnectionPool(conninfo=c.conninfo(DB), min_size=1, open=False)
        self.run(self._open())
        self.oban = Oban(pool=self.pool)  # no queues: client mode

    async def _open(self) -> None:
        await self.pool.open()
        await self.pool.wait()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.pool.close())
        self.loop.close()


@contextlib.contextmanager
def _client() -> Iterator[_Client]:
    client = _Client()
    try:
        yield client
    finally:
        client.close()


def reset() -> None:
    """Empty oban's tables, then VACUUM ANALYZE (autovacuum is off on the
    benchmark server)."""
    c.truncate(DB, c.public_tables(DB, "oban_"))


def setup(n: int) -> None:
    c.ensure_database(DB)
    c.reset_public_schema(DB)
    with _client() as cl:
        cl.run(install(cl.pool))
    reset()


async def _enqueue_bulk(oban: Oban, n: int) -> None:
    left = n
    while left:
        k = min(left, BULK_CHUNK)
        await oban.enqueue_many([Noop.new() for _ in range(k)])
        left -= k


def enqueue_one(n: int) -> float:
    reset()

    async def one_by_one() -> None:
        for _ in range(n):
            await Noop.enqueue()

    with _client() as cl:
        cl.run(Noop.enqueue())  # warm the pool outside the clock
        elapsed = c.timer()
        cl.run(one_by_one())
        secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    reset()
    with _client() as cl:
        cl.run(Noop.enqueue())  # warm the pool outside the clock
        elapsed = c.timer()
        cl.run(_enqueue_bulk(cl.oban, n))
        secs = elapsed()
    return c.rate(n, secs)


def _worker_commands() -> list[list[str]]:
    return [
        [
            c.py(),
            "-m",
            "oban",
            "start",
            "--dsn",
            c.dsn_url(DB),
            "--queues",
            f"{QUEUE}:{_limit()}",
            "--node",
            f"bench-{i}",
            "--log-level",
            "WARNING",
        ]
        for i in range(WORKER_PROCS)
    ]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(_worker_commands(), label=PEER)


def drain(n: int) -> dict:
    reset()
    with _client() as cl:
        cl.run(_enqueue_bulk(cl.oban, n))
    c.vacuum_analyze(DB)
    with c.pg(DB) as conn:

        def remaining() -> int:
            return conn.execute(
                "SELECT count(*) FROM oban_jobs WHERE state IN ('available', 'executing')"
            ).fetchone()[0]

        result = c.timed_drain(n, remaining=remaining, workers_factory=_workers)
        failed = conn.execute(
            "SELECT count(*) FROM oban_jobs WHERE state <> 'completed'"
        ).fetchone()[0]
    if failed:
        raise c.BenchError(f"{failed} oban jobs did not complete")
    return result


def latency(samples: int) -> dict:
    reset()
    with _client() as cl, _workers() as workers:
        return c.measure_latency(
            PEER, lambda token: cl.run(Stamp.enqueue({"token": token})), samples, workers=workers
        )
