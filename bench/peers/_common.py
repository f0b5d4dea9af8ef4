"""Shared plumbing for the peer-queue benchmark adapters.

Every adapter in ``bench/peers/`` drives one peer task queue through the same
workloads (see ``run.py``).  This module holds what they have in common:

* PostgreSQL helpers: one database per peer (``bench_<peer>``), schema reset,
  truncation and ``VACUUM ANALYZE``.  Autovacuum is OFF on the benchmark
  server, so the adapters vacuum/analyze explicitly between phases; otherwise
  dead tuples and stale planner statistics from one phase would skew the next.
* Worker process management: workers are started in their own session
  (process group) with output sent to log files, and are always stopped by PID
  (SIGTERM, then SIGKILL of their own process group after a grace period).
* Latency "stamps": the latency task of every peer pushes ``"<token> <time>"``
  to a Redis list as its first action, so the harness learns the task's start
  time with a blocking ``BLPOP`` instead of polling.
* Small utilities: polling with a deadline, percentiles, versions.

Connection settings come from the environment, with the benchmark machine's
defaults: ``BENCH_PG_HOST`` (127.0.0.1), ``BENCH_PG_PORT`` (5432),
``BENCH_PG_USER`` (postgres), ``BENCH_PG_PASSWORD`` (empty) and
``BENCH_REDIS_URL`` (redis://127.0.0.1:6379/9; db 9 keeps the benchmark's keys
away from anything else using the default db 0).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

# Repository root (bench/peers/_common.py -> ../..).  Workers run with this as
# their working directory and on PYTHONPATH so they can import
# ``bench.peers.<peer>`` (never ``bench/peers`` itself: the adapter modules are
# named after the peers and would shadow the real packages).
REPO_ROOT = Path(__file__).resolve().parents[2]

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("BENCH_PG_PASSWORD", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

# Defaults shared by all adapters; run.py may override them.
# A drain that takes longer fails instead of hanging; None = max(120 s, n / 100),
# i.e. it assumes every peer manages at least 100 tasks/s.
DRAIN_TIMEOUT_S: float | None = None
READY_TIMEOUT_S = 30.0  # how long idle workers may take to run a first task
STOP_GRACE_S = 10.0  # SIGTERM -> SIGKILL grace period when stopping workers
LATENCY_BUDGET_S = 60.0  # the latency phase stops early past this budget
WORKER_CONCURRENCY = 2  # tasks in flight across all worker processes


class BenchError(RuntimeError):
    """A workload could not complete (timeout, worker died, ...)."""


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def db_name(peer: str) -> str:
    return f"bench_{peer}"


def conninfo(dbname: str) -> str:
    """libpq connection string for *dbname* on the benchmark server."""
    return psycopg.conninfo.make_conninfo(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname=dbname,
        **({"password": PG_PASSWORD} if PG_PASSWORD else {}),
    )


def dsn_url(dbname: str) -> str:
    """postgresql:// URL form, for clients (asyncpg) that want one."""
    auth = PG_USER + (f":{PG_PASSWORD}" if PG_PASSWORD else "")
    return f"postgresql://{auth}@{PG_HOST}:{PG_PORT}/{dbname}"


@contextlib.contextmanager
def pg(dbname: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection (needed for CREATE DATABASE and VACUUM)."""
    with psycopg.connect(conninfo(dbname), autocommit=True) as conn:
        yield conn


def ensure_database(dbname: str) -> None:
    """Create *dbname* if it does not exist yet."""
    with pg("postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def reset_public_schema(dbname: str) -> None:
    """Drop everything a previous run left in *dbname* (tables, functions,
    types, triggers) by recreating the ``public`` schema."""
    with pg(dbname) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def truncate(dbname: str, tables: Sequence[str]) -> None:
    """Empty *tables* (restarting sequences), then VACUUM ANALYZE the whole
    database (see vacuum_analyze)."""
    if not tables:
        return
    with pg(dbname) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables)
            )
        )
    vacuum_analyze(dbname)


def vacuum_analyze(dbname: str, tables: Iterable[str] | None = None) -> None:
    """VACUUM ANALYZE *tables*, or the whole database (system catalogs
    included) if None -- what the adapters do between phases.

    Autovacuum is off on the benchmark server: without this, dead tuples and
    stale statistics from one phase would leak into the next one.  The
    catalogs matter too: every run recreates the peer's schema and every
    TRUNCATE rewrites pg_class rows, and the resulting catalog bloat measurably
    slowed later runs (procrastinate's drain lost ~25% over a few runs).
    Database-wide VACUUM ANALYZE takes ~0.1 s on these small databases.
    """
    with pg(dbname) as conn:
        if tables is None:
            conn.execute("VACUUM ANALYZE")
        else:
            for t in tables:
                conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(t)))


def public_tables(dbname: str, prefix: str = "") -> list[str]:
    with pg(dbname) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename LIKE %s ORDER BY tablename",
            (prefix + "%",),
        ).fetchall()
    return [r[0] for r in rows]


@contextlib.contextmanager
def exclusive_run(peer: str, wait: float = 600.0) -> Iterator[None]:
    """Serialise runs of the same peer: two at once would clobber each other's
    database and queue.  Holds a PostgreSQL session advisory lock (on the
    ``postgres`` database) for the duration; waits up to *wait* seconds for
    it, then fails rather than hang."""
    with pg("postgres") as conn:
        key = f"bench_peers:{peer}"
        deadline = time.monotonic() + wait
        while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise BenchError(f"another run of peer {peer!r} still holds {key}")
            time.sleep(1)
        yield  # the lock goes with the connection


def scalar(dbname: str, query: str, params: Sequence[object] = ()) -> object:
    with pg(dbname) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------


@dataclass
class Workers:
    """Worker processes started by the harness (so we may stop them by PID)."""

    logdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def check_alive(self) -> None:
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                raise BenchError(
                    f"worker pid {p.pid} exited with code {p.returncode}:\n" + tail(log)
                )

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {log} ---\n{tail(log, lines)}" for log in self.logs)


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_workers(
    commands: Sequence[Sequence[str]],
    *,
    label: str,
    env: dict[str, str] | None = None,
) -> Workers:
    """Start one process per command, each in its own session, cwd = repo root.

    Output goes to ``$TMPDIR/bench-peers-<label>-*/worker-<i>.log`` (removed
    by ``running_workers`` unless the workload failed).
    """
    logdir = Path(tempfile.mkdtemp(prefix=f"bench-peers-{label}-"))
    workers = Workers(logdir)
    try:
        for i, cmd in enumerate(commands):
            log = logdir / f"worker-{i}.log"
            with open(log, "wb") as out:
                p = subprocess.Popen(
                    list(cmd),
                    cwd=REPO_ROOT,
                    env=worker_env(env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group, see stop_workers
                )
            workers.procs.append(p)
            workers.logs.append(log)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: Workers, grace: float | None = None) -> None:
    """Stop the processes we started, by PID: SIGTERM (each peer's graceful
    shutdown signal), wait up to *grace* seconds, then SIGKILL whatever is left
    in that process's own group (e.g. Celery's prefork children)."""
    grace = STOP_GRACE_S if grace is None else grace
    for p in workers.procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in workers.procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for p in workers.procs:
        # The worker was started with start_new_session=True, so its process
        # group id is its own PID and holds only it and its children.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        if p.poll() is None:
            p.wait(timeout=5)


@contextlib.contextmanager
def running_workers(
    commands: Sequence[Sequence[str]], *, label: str, env: dict[str, str] | None = None
) -> Iterator[Workers]:
    """``start_workers`` + ``stop_workers`` in a ``finally`` clause; the
    worker logs are kept only if the block failed."""
    workers = start_workers(commands, label=label, env=env)
    try:
        yield workers
    finally:
        stop_workers(workers)
    shutil.rmtree(workers.logdir, ignore_errors=True)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


def py() -> str:
    """The interpreter running the harness (the .venv-bench one)."""
    return sys.executable


# --------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------


def wait_until(
    done: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    workers: Workers | None = None,
    poll: float = 0.02,
) -> float:
    """Poll *done* until true; return the monotonic time it became true.

    Raises BenchError after *timeout* seconds or if a worker dies meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return time.monotonic()
        if workers is not None:
            workers.check_alive()
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:g}s waiting for {what}"
            if workers is not None:
                msg += "\n" + workers.log_tails()
            raise BenchError(msg)
        time.sleep(poll)


def drain_result(n: int, t_start: float, t_first: float | None, t_end: float) -> dict:
    """Figures of a drain run, all derived from monotonic timestamps.

    ``tasks_per_s`` is the headline figure (worker start -> last task done);
    ``first_done_s`` is roughly the workers' startup cost, and
    ``steady_tasks_per_s`` excludes it.
    """
    total = t_end - t_start
    out = {"n": n, "seconds": round(total, 3), "tasks_per_s": round(n / total, 1)}
    if t_first is not None:
        out["first_done_s"] = round(t_first - t_start, 3)
        if t_end > t_first:
            out["steady_tasks_per_s"] = round(n / (t_end - t_first), 1)
    return out


def timed_drain(
    n: int,
    *,
    remaining: Callable[[], int],
    workers_factory: Callable[[], contextlib.AbstractContextManager[Workers]],
    timeout: float | None = None,
) -> dict:
    """Start workers and wait until ``remaining()`` is 0 (all *n* tasks done).

    The clock starts right before the worker processes are spawned.
    """
    if timeout is None:
        timeout = DRAIN_TIMEOUT_S if DRAIN_TIMEOUT_S is not None else max(120.0, n / 100)
    t_first: float | None = None

    t_start = time.monotonic()
    with workers_factory() as workers:

        def done() -> bool:
            nonlocal t_first
            left = remaining()
            if t_first is None and left < n:
                t_first = time.monotonic()
            return left == 0

        t_end = wait_until(done, timeout=timeout, what=f"{n} tasks to drain", workers=workers)
    return drain_result(n, t_start, t_first, t_end)


def percentiles(samples_ms: Sequence[float]) -> dict:
    """p50/p95/p99 (nearest-rank) plus mean/min/max, in milliseconds."""
    if not samples_ms:
        return {"samples": 0}
    s = sorted(samples_ms)

    def pct(p: float) -> float:
        k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
        return round(s[k], 2)

    return {
        "samples": len(s),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(sum(s) / len(s), 2),
        "min_ms": round(s[0], 2),
        "max_ms": round(s[-1], 2),
    }


def small_pause() -> None:
    """Random pause between latency samples, so enqueues don't phase-lock with
    a worker's polling loop."""
    time.sleep(random.uniform(0.01, 0.05))


def version_of(*dists: str) -> str:
    return ", ".join(f"{d} {importlib.metadata.version(d)}" for d in dists)


# --------------------------------------------------------------------------
# Latency stamps (Redis)
# --------------------------------------------------------------------------


def stamp_key(peer: str) -> str:
    return f"bench:peers:{peer}:stamps"


def stamp_value(token: str | int) -> str:
    """What a latency task pushes: its token and its start time (time.time())."""
    return f"{token} {time.time():.6f}"


_redis = None


def redis_client():
    """A (lazily created, per-process) synchronous Redis client."""
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(REDIS_URL)
    return _redis


def push_stamp(peer: str, token: str | int) -> None:
    """Called by a latency task, first thing: record its start time."""
    value = stamp_value(token)  # take the time before any I/O
    redis_client().rpush(stamp_key(peer), value)


def clear_stamps(peer: str) -> None:
    redis_client().delete(stamp_key(peer))


def wait_stamp(
    peer: str, token: str | int, timeout: float, workers: Workers | None = None
) -> float:
    """Block until the task with *token* has pushed its stamp; return its
    start time (epoch seconds).  Fails fast if a worker dies meanwhile."""
    deadline = time.monotonic() + timeout
    r = redis_client()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            msg = f"latency task {token} did not start within {timeout:g}s"
            if workers is not None:
                msg += "\n" + workers.log_tails()
            raise BenchError(msg)
        item = r.blpop([stamp_key(peer)], timeout=max(0.01, min(left, 1.0)))
        if item is None:
            if workers is not None:
                workers.check_alive()
            continue
        got, ts = item[1].decode().split()
        if got == str(token):
            return float(ts)
        # A stale stamp (e.g. from a warm-up task): ignore it.


def measure_latency(
    peer: str,
    enqueue_stamp: Callable[[str], None],
    samples: int,
    *,
    workers: Workers,
    warmup: int = 5,
    budget: float | None = None,
    pause: Callable[[], None] = small_pause,
) -> dict:
    """Latency enqueue call -> task start, with the workers running idle.

    Timed from just before the enqueue call, as a user feels it (the ``p*_ms``
    figures); the same timed from after the call returned is kept as
    ``after_return`` (a worker woken by the commit may start the task before
    the call returns, so that one can be negative, and it flatters whoever's
    enqueue call is slow).

    *enqueue_stamp(token)* must enqueue the peer's stamp task and return only
    once the enqueue is committed.  The first *warmup* round trips (which also
    prove the workers are up) are discarded.  Stops early, with fewer samples,
    once *budget* seconds have been spent.  *pause* runs between samples
    (polling peers pass one spanning their poll interval, so samples are
    spread over the polling phase instead of locked to it).
    """
    budget = LATENCY_BUDGET_S if budget is None else budget
    clear_stamps(peer)
    for i in range(warmup):
        token = f"w{i}"
        enqueue_stamp(token)
        # The first warm-up waits for the workers to boot.
        wait_stamp(peer, token, READY_TIMEOUT_S, workers)
        pause()

    lat_ms: list[float] = []
    after_ms: list[float] = []
    call_ms: list[float] = []
    deadline = time.monotonic() + budget
    for i in range(samples):
        token = str(i)
        t_call = time.time()
        enqueue_stamp(token)
        # The enqueue call has returned: the commit (or broker push) is
        # acknowledged.  A worker woken by the commit can start the task a
        # little before the client gets control back, so tiny negative
        # latencies are possible (and real).
        t_commit = time.time()
        t_task = wait_stamp(peer, token, READY_TIMEOUT_S, workers)
        lat_ms.append((t_task - t_call) * 1000.0)
        after_ms.append((t_task - t_commit) * 1000.0)
        call_ms.append((t_commit - t_call) * 1000.0)
        if time.monotonic() > deadline:
            break
        pause()
    result = percentiles(lat_ms)
    result["after_return"] = percentiles(after_ms)
    # Context: how long the enqueue call itself took (median).
    result["enqueue_call_p50_ms"] = percentiles(call_ms).get("p50_ms")
    if len(lat_ms) < samples:
        result["truncated_after_s"] = budget
    return result


def timer() -> Callable[[], float]:
    """Return a function giving seconds elapsed since the call (perf_counter)."""
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")
