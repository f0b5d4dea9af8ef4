"""Benchmark adapter for Celery 5 with a Redis broker.

How the peer is driven
----------------------
* Broker: Redis at ``BENCH_REDIS_URL`` (db 9 by default), queue
  ``bench_celery``; no result backend (``task_ignore_result=True``), the usual
  high-throughput setup.  There is no PostgreSQL database for this peer.
* Enqueueing uses Celery's normal API, ``noop.delay()`` per task (one Redis
  LPUSH round trip each).  Celery has no bulk publish API for Redis (``group``
  still publishes message by message), so ``enqueue_bulk`` returns None; the
  drain workload pre-fills its queue with ``delay()`` calls (not timed).
* Workers are Celery's own, ``celery -A bench.peers.celery:app worker -c 2
  -P prefork`` (one main process + 2 forked pool processes).

Measured configuration
----------------------
``-c 2 -P prefork`` with Celery's defaults (prefetch multiplier 4, early
acks), plus ``--without-gossip --without-mingle --without-heartbeat``: those
only talk to other workers (mingle alone adds a ~1 s wait at startup, which
the drain's worker-start-to-done clock would count) and are irrelevant to a
single benchmark worker.

Without a result backend the harness needs another way to know when the
drain is over: a ``task_postrun`` signal handler INCRs a Redis counter after
each no-op -- one extra Redis round trip per task (tens of microseconds),
which the PostgreSQL peers do not pay in the same form (their completion is
the queue's own status update).
"""

from __future__ import annotations

import contextlib

# Absolute imports: this module is ``bench.peers.celery``, the real package is
# the top-level ``celery``.
from celery import Celery
from celery.signals import task_postrun

from bench.peers import _common as c

PEER = "celery"
QUEUE = "bench_celery"
DONE_KEY = "bench:peers:celery:done"

app = Celery("bench_peers", broker=c.REDIS_URL, set_as_current=True)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop() -> None:
    """The benchmark's no-op task."""


@app.task(name="stamp")
def stamp(token: str) -> None:
    """Latency probe: record the start time first thing (see _common)."""
    c.push_stamp(PEER, token)


@task_postrun.connect
def _count_done(sender=None, **_kwargs) -> None:
    """Completion counter for the drain (runs in the worker pool processes)."""
    if sender is not None and sender.name == "noop":
        c.redis_client().incr(DONE_KEY)


def version() -> str:
    return c.version_of("celery", "kombu", "redis")


def config() -> dict:
    return {
        "worker": "celery worker -P prefork --without-gossip --without-mingle --without-heartbeat",
        "broker": c.REDIS_URL,
        "result_backend": None,
        "worker_processes": c.WORKER_CONCURRENCY,
        "concurrency_per_process": 1,
        "prefetch_multiplier": app.conf.worker_prefetch_multiplier,
        "task": "def no-op (+ task_postrun INCR of a done counter)",
    }


def reset() -> None:
    """Drop the queue and the harness's keys (no workers run at this point).

    ``unacked*`` are kombu's bookkeeping for delivered-but-unacked messages.
    """
    c.redis_client().delete(
        QUEUE, DONE_KEY, "unacked", "unacked_index", "unacked_mutex", c.stamp_key(PEER)
    )


def setup(n: int) -> None:
    c.redis_client().ping()
    reset()


def enqueue_one(n: int) -> float:
    reset()
    noop.delay()  # open the broker connection outside the clock
    elapsed = c.timer()
    for _ in range(n):
        noop.delay()
    secs = elapsed()
    return c.rate(n, secs)


def enqueue_bulk(n: int) -> float | None:
    return None  # no bulk publish API in Celery


def _worker_commands() -> list[list[str]]:
    return [
        [
            c.py(),
            "-m",
            "celery",
            "-A",
            "bench.peers.celery:app",
            "worker",
            "-c",
            str(c.WORKER_CONCURRENCY),
            "-P",
            "prefork",
            "-Q",
            QUEUE,
            "-n",
            "bench@%h",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    ]


def _workers() -> contextlib.AbstractContextManager[c.Workers]:
    return c.running_workers(_worker_commands(), label=PEER)


def drain(n: int) -> dict:
    reset()
    for _ in range(n):
        noop.delay()
    r = c.redis_client()
    queued = r.llen(QUEUE)
    if queued != n:
        raise c.BenchError(f"expected {n} messages in {QUEUE}, found {queued}")

    def remaining() -> int:
        return n - int(r.get(DONE_KEY) or 0)

    return c.timed_drain(n, remaining=remaining, workers_factory=_workers)


def latency(samples: int) -> dict:
    reset()
    with _workers() as workers:
        return c.measure_latency(PEER, lambda token: stamp.delay(token), samples, workers=workers)
