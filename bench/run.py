"""
The django_tasks benchmark: one command, every workload, a table and a JSON file.

    python bench/run.py                                  # PostgreSQL dt_bench (see --database-url)
    python bench/run.py --database-url sqlite:////tmp/dt_bench.sqlite3 --n 5000
    python bench/run.py --memory --peers                 # + worker RSS, + the peer queues
    bash scripts/bench.sh                                # both databases (make bench)

Workloads, on the database DATABASE_URL names (a database of its own: dropped, created and
migrated at start; the queue tables are emptied and VACUUM ANALYZEd before each measurement,
because autovacuum is off on the benchmark server):

* enqueue_one   ``noop.delay()`` in autocommit, one row and one commit per task (tasks/s);
* enqueue_many  ``noop.enqueue_many(...)``, one statement per batch (tasks/s);
* enqueue_group ``group(noop.s() ...).apply_async()`` (tasks/s);
* drain         N queued no-ops, then ``manage.py runtasks -c 2 --burst`` is spawned; tasks/s
                from spawn to the last ``done_at``; steady tasks/s from the first ``done_at``
                to the last (no process start-up); the burst's exit time;
* latency       an idle worker; one ``stamp`` task at a time, 10-50 ms apart (spread over
                the poll interval where the database cannot NOTIFY): its body sends its
                ``time.time()`` by UDP; latency = body start - just before ``delay()``
                (as users feel it, and as bench/peers measures every peer); the same from
                after ``delay()`` returned is a second figure; at most --latency-budget s;
* idle          a fresh idle worker over --idle-seconds: CPU % of one core (supervisor +
                children, /proc/<pid>/stat), the statements it sends (logged at the driver,
                see bench/apps.py) and, on PostgreSQL, transactions/s from
                pg_stat_database (xact_commit + xact_rollback; backends flush these counters
                up to ~10 s late, so the statement log is the exact figure);
* history       --history-rows finished rows inserted with one INSERT ... SELECT
                (generate_series / a recursive CTE), then enqueue, drain and idle again,
                with their ratios to the empty-table figures;
* backlog       N no-ops in queue "mail" drained by ``runtasks --burst -Q mail`` alone, then
                again beside --backlog-rows due rows waiting in queue "bulk" (one INSERT ...
                SELECT): steady tasks/s of both and their ratio (target >= 0.9);
* memory        (--memory) a worker's RSS and PSS per child after 10,000 and 200,000 tasks.

Throughput workloads run --repeat times; the table shows medians, the JSON every run. With
--peers (PostgreSQL only) bench/peers/run.py runs each peer queue in .venv-bench (created
by bench/peers/setup.sh when missing) and every figure is shown with its ratio to ours.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# ``python bench/run.py`` puts bench/ first on sys.path; import the package from the root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/dt_bench"
RESULTS = HERE / "results"
#: Periodic entries stored during the idle phase (none due): the beat's idle cost.
IDLE_ENTRIES = 100
PHASES = ("enqueue", "drain", "latency", "idle", "history", "backlog", "memory")
PEERS = ("procrastinate", "pgqueuer", "django_tasks_db", "celery", "django_q2", "oban", "django_ox")
PEER_VENV_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the database ------------------------------------------------------------------------------


def vendor_of(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return "postgresql"
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith("mysql://"):
        return "mysql"
    sys.exit(f"bench: --database-url must be postgres://, mysql:// or sqlite:///, not {url!r}.")


def url_params(url: str) -> dict[str, Any]:
    import environ

    return environ.Env.db_url_config(url)


def recreate_database(url: str) -> None:
    """Drop and create the benchmark's own database (never run it on one you care about)."""
    p = url_params(url)
    if vendor_of(url) == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p["NAME"] + suffix)
        return
    if vendor_of(url) == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(
            host=p["HOST"] or "127.0.0.1",
            port=int(p["PORT"] or 3306),
            user=p["USER"] or "root",
            password=p["PASSWORD"] or "",
        )
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{p['NAME']}`")
            cursor.execute(f"CREATE DATABASE `{p['NAME']}` CHARACTER SET utf8mb4")
        conn.close()
        return
    import psycopg
    from psycopg import sql

    name = p["NAME"]
    with psycopg.connect(
        host=p["HOST"] or None,
        port=p["PORT"] or None,
        user=p["USER"] or None,
        password=p["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        busy = conn.execute(
            "SELECT pid, application_name, state FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
        if busy:
            sys.exit(
                f"bench: database {name!r} is in use by backends {busy!r}; stop the "
                "process using it (a leftover runtasks?) and run again."
            )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


class DB:
    """The harness's view of the benchmark database (its own statements, vendor aware)."""

    def __init__(self, url: str) -> None:
        from django.db import connection

        from django_tasks.models import TaskAttempt, TaskMessage, Worker

        self.url = url
        self.vendor = connection.vendor
        self.connection = connection
        self.table = TaskMessage._meta.db_table
        self.tables = [
            TaskAttempt._meta.db_table,
            TaskMessage._meta.db_table,
            Worker._meta.db_table,
        ]
        self.TaskMessage = TaskMessage
        self.Worker = Worker

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def reset(self) -> None:
        """Empty the queue tables (history rows too)."""
        if self.vendor == "postgresql":
            self.execute(f"TRUNCATE {', '.join(self.tables)} CASCADE")
        else:
            for t in self.tables:
                self.execute(f"DELETE FROM {t}")
        self.vacuum()

    def delete_except_history(self) -> None:
        self.execute(f"DELETE FROM {self.tables[0]}")
        self.execute(f"DELETE FROM {self.table} WHERE name <> %s", [HISTORY_NAME])
        self.execute(f"DELETE FROM {self.tables[2]}")
        self.vacuum()

    def vacuum(self) -> None:
        """VACUUM ANALYZE (autovacuum is off on the benchmark server); SQLite: ANALYZE."""
        if self.vendor == "postgresql":
            for t in self.tables:
                self.execute(f"VACUUM ANALYZE {t}")
        elif self.vendor == "mysql":
            for t in self.tables:
                self.execute(f"ANALYZE TABLE {t}")
        else:
            self.execute("ANALYZE")
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def checkpoint(self) -> None:
        """Write out what a bulk load dirtied now, so no checkpoint lands in a measurement."""
        if self.vendor == "postgresql":
            self.execute("CHECKPOINT")

    def count(self, *states: str) -> int:
        qs = self.TaskMessage.objects.all()
        if states:
            qs = qs.filter(state__in=states)
        return qs.count()

    def queued(self, queue: str) -> int:
        return self.TaskMessage.objects.filter(state="PENDING", queue=queue).count()

    def insert_backlog(self, rows: int, queue: str) -> None:
        """`rows` due PENDING no-ops in `queue`, one statement (ids apart from enqueue's)."""
        cols = (
            "id, name, queue, priority, args, kwargs, state, run_at, retries, acks_late, "
            "redelivered, options, parent_id, group_id, exc_type, exc_message, traceback, "
            "worker, created_at"
        )
        if self.vendor == "postgresql":
            self.execute(
                f"""
                INSERT INTO {self.table} ({cols})
                SELECT 'backlog-' || g, 'bench.tasks.noop', %s, 0, '[]', '{{}}', 'PENDING',
                       now() - interval '1 hour', 0, false, false, '{{}}', '', '', '', '',
                       '', '', now()
                  FROM generate_series(1, %s) AS g""",
                [queue, rows],
            )
        else:
            self.execute(
                f"""
                WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?)
                INSERT INTO {self.table} ({cols})
                SELECT 'backlog-' || g, 'bench.tasks.noop', ?, 0, '[]', '{{}}', 'PENDING',
                       strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hour'), 0, 0, 0, '{{}}',
                       '', '', '', '', '', '', strftime('%Y-%m-%d %H:%M:%f000', 'now')
                  FROM s""",
                [rows, queue],
            )

    def unfinished(self) -> bool:
        from django_tasks import states

        return self.TaskMessage.objects.filter(state__in=states.UNREADY_STATES).exists()

    def done_span(self) -> tuple[int, float | None, float | None]:
        """SUCCESS rows of this run (not history) and their first and last done_at, epoch s."""
        from django.db.models import Count, Max, Min

        agg = (
            self.TaskMessage.objects.filter(state="SUCCESS")
            .exclude(name=HISTORY_NAME)
            .aggregate(n=Count("id"), first=Min("done_at"), last=Max("done_at"))
        )
        return (
            agg["n"],
            agg["first"] and agg["first"].timestamp(),
            agg["last"] and agg["last"].timestamp(),
        )

    def drain_tenths(self) -> list[float]:
        """tasks/s within each tenth of this run's SUCCESS rows, by done_at (a slowdown shows)."""
        times = sorted(
            t.timestamp()
            for t in self.TaskMessage.objects.filter(state="SUCCESS")
            .exclude(name=HISTORY_NAME)
            .values_list("done_at", flat=True)
        )
        if len(times) < 100:
            return []
        step = len(times) // 10
        cuts = [times[min(i * step, len(times) - 1)] for i in range(11)]
        cuts[-1] = times[-1]
        return [rate(step, cuts[i + 1] - cuts[i]) for i in range(10)]

    def server_version(self) -> str:
        if self.vendor == "postgresql":
            return self.execute("SHOW server_version")[0][0]
        if self.vendor == "mysql":
            return self.execute("SELECT VERSION()")[0][0]
        import sqlite3

        return sqlite3.sqlite_version

    def setting(self, name: str) -> str | None:
        if self.vendor != "postgresql":
            return None
        return self.execute(f"SHOW {name}")[0][0]

    def xacts(self) -> int | None:
        """Transactions committed + rolled back in this database so far (PostgreSQL)."""
        if self.vendor != "postgresql":
            return None
        import psycopg

        # A connection to another database, so reading the counters adds none here.
        p = url_params(self.url)
        with psycopg.connect(
            host=p["HOST"] or None,
            port=p["PORT"] or None,
            user=p["USER"] or None,
            password=p["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            return conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                (p["NAME"],),
            ).fetchone()[0]

    def insert_history(self, rows: int) -> None:
        """`rows` finished rows (98% SUCCESS, 2% FAILURE) over the last day, one statement."""
        cols = (
            "id, name, queue, priority, args, kwargs, state, run_at, eta, expires, retries, "
            "max_retries, acks_late, redelivered, options, parent_id, group_id, result, "
            "exc_type, exc_message, traceback, worker, created_at, reserved_at, "
            "started_at, done_at"
        )
        options = '{"acks_late": false, "track_started": false, "max_retries": 3}'
        if self.vendor == "postgresql":
            self.execute(
                f"""
                INSERT INTO {self.table} ({cols})
                SELECT gen_random_uuid()::text, %s, 'default', 0, '[]', '{{}}',
                       CASE WHEN mod(g, 50) = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
                       t, NULL, NULL, 0, 3, false, false, %s::jsonb, '', '',
                       CASE WHEN mod(g, 50) = 0 THEN '{{"exc_type": "ValueError"}}'::jsonb END,
                       CASE WHEN mod(g, 50) = 0 THEN 'ValueError' ELSE '' END,
                       CASE WHEN mod(g, 50) = 0 THEN 'bad value' ELSE '' END,
                       CASE WHEN mod(g, 50) = 0 THEN 'Traceback (most recent call last): ...'
                            ELSE '' END,
                       'bench-host.1', t, t, t, t + interval '2 ms'
                  FROM generate_series(1, %s) AS g,
                       LATERAL (SELECT now() - interval '1 day'
                                       + g * (interval '1 day' / %s)) AS x(t)""",
                [HISTORY_NAME, options, rows, rows],
            )
        else:
            # Django stores datetimes on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC).
            t = "strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 day', (g * 86400.0 / ?) || ' seconds')"
            self.execute(
                f"""
                WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?)
                INSERT INTO {self.table} ({cols})
                SELECT lower(hex(randomblob(16))), ?, 'default', 0, '[]', '{{}}',
                       CASE WHEN g % 50 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
                       {t}, NULL, NULL, 0, 3, 0, 0, ?, '', '',
                       CASE WHEN g % 50 = 0 THEN '{{"exc_type": "ValueError"}}' END,
                       CASE WHEN g % 50 = 0 THEN 'ValueError' ELSE '' END,
                       CASE WHEN g % 50 = 0 THEN 'bad value' ELSE '' END,
                       CASE WHEN g % 50 = 0 THEN 'Traceback (most recent call last): ...'
                            ELSE '' END,
                       'bench-host.1', {t}, {t}, {t}, {t}
                  FROM s""".replace("%", "%%").replace("?", "%s"),
                [rows, HISTORY_NAME, rows, options, rows, rows, rows, rows],
            )


#: The name of the finished rows the history phase inserts (so they are told apart).
HISTORY_NAME = "bench.tasks.history"


# -- worker processes ----------------------------------------------------------------------


class Runtasks:
    """A ``manage.py runtasks`` subprocess in a session of its own; stopped by its PID."""

    def __init__(
        self,
        args: list[str],
        *,
        url: str,
        logdir: Path,
        label: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = logdir / f"{label}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable,
            str(ROOT / "manage.py"),
            "runtasks",
            "--settings",
            "bench.settings",
            *args,
        ]
        self.started = time.time()
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def pids(self) -> list[int]:
        return [self.pid, *self.children()]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise BenchError(
                f"runtasks pid {self.pid} exited with {self.proc.returncode}:\n" + self.tail()
            )

    def tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"runtasks pid {self.pid} still running after {timeout:.0f}s:\n" + self.tail()
            ) from None

    def stop(self) -> None:
        """SIGTERM (warm shutdown), then SIGKILL to its own process group if it lingers."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        # Started with start_new_session: the group is this runtasks and its children only.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


class BenchError(RuntimeError):
    """A workload could not complete (a worker died, a deadline passed)."""


def wait_until(
    predicate, timeout: float, what: str, worker: Runtasks | None = None, interval: float = 0.05
):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if worker is not None:
            worker.check()
        if time.monotonic() > deadline:
            raise BenchError(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f"\n{worker.tail()}" if worker else "")
            )
        time.sleep(interval)


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total


def memory_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0].lower()] = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    return out


# -- the workloads ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, db: DB, logdir: Path) -> None:
        self.args = args
        self.db = db
        self.logdir = logdir
        self.workers = 0
        from bench import tasks

        self.tasks = tasks

    def runtasks(self, *extra: str, label: str, env: dict[str, str] | None = None) -> Runtasks:
        self.workers += 1
        return Runtasks(
            ["-c", str(self.args.concurrency), "-l", self.args.loglevel, *extra],
            url=self.db.url,
            logdir=self.logdir,
            label=f"{self.workers:02d}-{label}",
            env=env,
        )

    # enqueue ------------------------------------------------------------------------------

    def enqueue_one(self, n: int) -> float:
        from django.db import connection

        if not connection.get_autocommit() or connection.in_atomic_block:
            raise BenchError("enqueue_one must run in autocommit, outside atomic()")
        delay = self.tasks.noop.delay
        t0 = time.perf_counter()
        for _ in range(n):
            delay()
        return rate(n, time.perf_counter() - t0)

    def enqueue_many(self, n: int) -> float:
        calls = [()] * n
        t0 = time.perf_counter()
        self.tasks.noop.enqueue_many(calls)
        return rate(n, time.perf_counter() - t0)

    def enqueue_group(self, n: int) -> float:
        from django_tasks import group

        t0 = time.perf_counter()
        group(self.tasks.noop.s() for _ in range(n)).apply_async()
        return rate(n, time.perf_counter() - t0)

    # drain --------------------------------------------------------------------------------

    def drain(self, n: int, label: str, queue: str | None = None) -> dict[str, Any]:
        """Drain the `n` queued tasks (of `queue`: -Q) with ``runtasks --burst``; figures
        from done_at."""
        queued = self.db.count("PENDING") if queue is None else self.db.queued(queue)
        if queued != n:
            raise BenchError(f"drain expects {n} queued tasks, found {queued}")
        # The harness reaps runtasks, which reaps its children: RUSAGE_CHILDREN's delta is the
        # CPU time of the whole worker tree.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        extra = ("-Q", queue) if queue else ()
        worker = self.runtasks("--burst", *extra, label=label)
        try:
            code = worker.wait(timeout=max(120.0, n / 200))
            exited = time.time()
        finally:
            worker.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if code != 0:
            raise BenchError(f"runtasks --burst exited {code}:\n{worker.tail()}")
        done, first, last = self.db.done_span()
        if done != n:
            raise BenchError(
                f"runtasks --burst exited with {done} of {n} tasks SUCCESS:\n" + worker.tail()
            )
        return {
            "n": n,
            "tasks_per_s": rate(n, last - worker.started),
            "steady_tasks_per_s": rate(n, last - first),
            "first_done_s": round(first - worker.started, 3),
            "last_done_s": round(last - worker.started, 3),
            "exit_s": round(exited - worker.started, 3),
            "tenths_tasks_per_s": self.db.drain_tenths(),
            "worker_cpu_s": round(cpu, 2),
            "worker_cpu_ms_per_task": round(1000 * cpu / n, 3),
        }

    # backlog ------------------------------------------------------------------------------

    def backlog(self, n: int, rows: int) -> dict[str, Any]:
        """A served queue's drain alone, then beside `rows` due rows of another queue."""
        out: dict[str, Any] = {"rows": rows}
        for label, backlog in (("alone", 0), ("beside", rows)):
            self.db.reset()
            if backlog:
                t0 = time.perf_counter()
                self.db.insert_backlog(backlog, "bulk")
                out["insert_s"] = round(time.perf_counter() - t0, 1)
            self.tasks.noop.enqueue_many([()] * n, queue="mail")
            self.db.vacuum()
            self.db.checkpoint()
            out[label] = self.drain(n, f"backlog-{label}", queue="mail")
            if self.db.queued("bulk") != backlog:
                raise BenchError("the worker serving 'mail' touched the 'bulk' backlog")
        out["ratio_steady"] = round(
            out["beside"]["steady_tasks_per_s"] / out["alone"]["steady_tasks_per_s"], 2
        )
        out["ratio"] = round(out["beside"]["tasks_per_s"] / out["alone"]["tasks_per_s"], 2)
        self.db.reset()
        return out

    # latency ------------------------------------------------------------------------------

    def latency(self, samples: int, budget: float) -> dict[str, Any]:
        from django.db import connection

        if not connection.get_autocommit():
            raise BenchError("latency must be measured in autocommit")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        stamp = self.tasks.stamp.delay

        def started(token: str, timeout: float, worker: Runtasks) -> float:
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(
                        f"stamp {token} did not start in {timeout:.0f}s:\n" + worker.tail()
                    )
                sock.settimeout(min(left, 1.0))
                try:
                    data = sock.recv(200).decode().split()
                except TimeoutError:
                    worker.check()
                    continue
                if data[0] == token:
                    return float(data[1])

        from django_tasks import conf
        from django_tasks.broker import get_broker

        if get_broker().supports_notify:

            def pause() -> None:
                time.sleep(random.uniform(0.01, 0.05))
        else:
            # A polling worker: space the samples over its poll interval, so they sample
            # every phase of it instead of locking onto the moment after the last poll.
            poll = conf.get("POLL_INTERVAL")

            def pause() -> None:
                time.sleep(random.uniform(0.01, 0.01 + poll))

        worker = self.runtasks(label="latency")
        lat, after, call = [], [], []
        try:
            for i in range(5):  # warm-up: the first waits for the worker to boot
                stamp(port, f"w{i}")
                started(f"w{i}", 60 if i == 0 else 10, worker)
                time.sleep(0.05)
            time.sleep(1.0)  # both children back in their idle wait
            deadline = time.monotonic() + budget
            for i in range(samples):
                t_call = time.time()
                stamp(port, str(i))
                t_commit = time.time()
                t_start = started(str(i), 30, worker)
                lat.append((t_start - t_call) * 1000)
                after.append((t_start - t_commit) * 1000)
                call.append((t_commit - t_call) * 1000)
                if time.monotonic() > deadline:
                    break
                pause()
        finally:
            worker.stop()
            sock.close()
        extra = {"truncated_after_s": budget} if len(lat) < samples else {}
        return {
            **percentiles(lat),
            "after_return": percentiles(after),
            "enqueue_call_p50_ms": percentiles(call)["p50_ms"],
            **extra,
        }

    # idle ---------------------------------------------------------------------------------

    def idle(self, seconds: float) -> dict[str, Any]:
        from django_tasks.models import PeriodicTask

        qlog = self.logdir / "idle-queries.log"
        # An idle site with 100 periodic entries, none due during the phase.
        PeriodicTask.objects.all().delete()
        PeriodicTask.objects.bulk_create(
            PeriodicTask(name=f"bench-{i}", task="bench.tasks.noop", crontab=f"{i % 60} 3 * * *")
            for i in range(IDLE_ENTRIES)
        )
        worker = self.runtasks(label="idle", env={"BENCH_QUERY_LOG": str(qlog)})
        try:
            wait_until(
                lambda: (
                    self.db.Worker.objects.count() >= 1 + self.args.concurrency
                    and len(worker.children()) == self.args.concurrency
                ),
                60,
                "the idle worker to register",
                worker,
            )
            # Start-up done, every consumer in its idle wait, and the start-up transactions
            # flushed to pg_stat_database (an idle backend flushes within 10 s).
            time.sleep(11.0)
            pids = worker.pids()
            x0, c0, t0 = self.db.xacts(), cpu_ticks(pids), time.time()
            time.sleep(seconds)
            x1, c1, t1 = self.db.xacts(), cpu_ticks(pids), time.time()
            worker.check()
        finally:
            worker.stop()
        elapsed = t1 - t0
        statements: dict[str, int] = {}
        total = 0
        if qlog.exists():
            for line in qlog.read_text().splitlines():
                stamp, _pid, sql = line.split(" ", 2)
                if t0 <= float(stamp) < t1:
                    total += 1
                    key = " ".join(sql.split()[:6])
                    statements[key] = statements.get(key, 0) + 1
        out = {
            "seconds": round(elapsed, 2),
            "processes": len(pids),
            "cpu_percent": round(100.0 * (c1 - c0) / CLK_TCK / elapsed, 2),
            "statements_per_s": round(total / elapsed, 2),
            "periodic_entries": IDLE_ENTRIES,
            "periodic_statements_per_s": round(
                sum(n for k, n in statements.items() if "periodictask" in k) / elapsed, 2
            ),
            "statements": dict(sorted(statements.items(), key=lambda kv: -kv[1])),
        }
        if x0 is not None:
            out["xacts_per_s"] = round((x1 - x0) / elapsed, 2)
        return out

    # memory -------------------------------------------------------------------------------

    def memory(self, marks: list[int]) -> dict[str, Any]:
        worker = self.runtasks(label="memory")
        out: dict[str, Any] = {}
        enqueued = 0
        try:
            for mark in marks:
                while enqueued < mark:
                    k = min(20000, mark - enqueued)
                    self.tasks.noop.enqueue_many([()] * k)
                    enqueued += k
                wait_until(
                    lambda: not self.db.unfinished(),
                    max(120.0, mark / 500),
                    f"{mark} tasks to finish",
                    worker,
                    interval=0.5,
                )
                time.sleep(0.5)
                out[str(mark)] = {str(pid): memory_kib(pid) for pid in worker.children()}
                out[str(mark)]["elapsed_s"] = round(time.time() - worker.started, 1)
                out[str(mark)]["supervisor"] = memory_kib(worker.pid)
                log(f"memory after {mark}: {out[str(mark)]}")
        finally:
            worker.stop()
        return out


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    """p50/p95/p99 (nearest rank), mean, min and max in milliseconds."""
    if not samples_ms:
        return {"samples": 0, "p50_ms": None}
    s = sorted(samples_ms)

    def pct(p: float) -> float:
        return round(s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))], 2)

    return {
        "samples": len(s),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(sum(s) / len(s), 2),
        "min_ms": round(s[0], 2),
        "max_ms": round(s[-1], 2),
    }


def median_of(runs: list[Any], key: str | None = None) -> float | None:
    values = [r[key] if key else r for r in runs if r is not None]
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


# -- the sequence ----------------------------------------------------------------------------


def run_throughput(
    bench: Bench, n: int, n_one: int, repeat: int, label: str, history: bool = False
) -> dict[str, Any]:
    """enqueue one-by-one, group, enqueue_many (whose rows the drain then runs), repeated."""
    db = bench.db
    clear = db.delete_except_history if history else db.reset
    out: dict[str, Any] = {"enqueue_one": [], "enqueue_group": [], "enqueue_many": [], "drain": []}
    phases = bench.args.phases
    for i in range(repeat):
        if "enqueue" in phases:
            clear()
            out["enqueue_one"].append(bench.enqueue_one(n_one))
            clear()
            out["enqueue_group"].append(bench.enqueue_group(n))
        clear()
        out["enqueue_many"].append(bench.enqueue_many(n))
        if "drain" in phases:
            db.vacuum()
            out["drain"].append(bench.drain(n, f"{label}-drain-{i}"))
        log(
            f"{label} run {i + 1}/{repeat}: "
            + ", ".join(
                f"{k}={v[-1] if k != 'drain' else v[-1]['tasks_per_s']}"
                for k, v in out.items()
                if v
            )
        )
    clear()
    if "enqueue" not in phases:
        out.pop("enqueue_one"), out.pop("enqueue_group")
    if "drain" not in phases:
        out.pop("drain")
    return summarize(out)


def summarize(runs: dict[str, list]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in runs.items():
        if key == "drain":
            out[key] = {
                "runs": values,
                **{
                    k: median_of(values, k)
                    for k in (
                        "tasks_per_s",
                        "steady_tasks_per_s",
                        "first_done_s",
                        "exit_s",
                        "worker_cpu_ms_per_task",
                    )
                },
            }
        else:
            out[key] = {"runs": values, "tasks_per_s": median_of(values)}
    return out


def run_peers(args: argparse.Namespace, url: str, stamp: str) -> dict[str, Any]:
    """bench/peers/run.py for each peer, in .venv-bench; its JSON, or why there is none."""
    runner = HERE / "peers" / "run.py"
    if not runner.exists():
        return {p: {"error": "bench/peers/run.py not found"} for p in args.peers}
    if not PEER_VENV_PYTHON.exists() or not _peer_venv_ready():
        log("creating .venv-bench with bench/peers/setup.sh")
        subprocess.run(["bash", str(HERE / "peers" / "setup.sh")], cwd=ROOT, check=False)
    p = url_params(url)
    env = {
        **os.environ,
        "BENCH_PG_HOST": p["HOST"] or "127.0.0.1",
        "BENCH_PG_PORT": str(p["PORT"] or 5432),
        "BENCH_PG_USER": p["USER"] or "postgres",
        "BENCH_PG_PASSWORD": p["PASSWORD"] or "",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    out: dict[str, Any] = {}
    for peer in args.peers:
        path = RESULTS / f"{stamp}-peer-{peer}.json"
        cmd = [
            str(PEER_VENV_PYTHON),
            str(runner),
            "--peer",
            peer,
            "--n",
            str(args.peer_n),
            "--samples",
            str(args.samples),
            "--latency-budget",
            str(args.latency_budget),
            "--json",
            str(path),
        ]
        log(f"peer {peer}: {' '.join(cmd[1:])}")
        logfile = RESULTS / f"{stamp}-peer-{peer}.log"
        with open(logfile, "wb") as fh:
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=args.peer_timeout,
                    check=False,
                )
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        try:
            out[peer] = json.loads(path.read_text())
        except (OSError, ValueError):
            out[peer] = {"error": f"no results (exit {code}); see {logfile}"}
        if code not in (0, "timeout") and "errors" not in out[peer]:
            out[peer].setdefault("errors", {})["run"] = f"exit {code}; see {logfile}"
    return out


def _peer_venv_ready() -> bool:
    code = (
        "import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None "
        "for m in ('procrastinate', 'pgqueuer', 'django_tasks_db', 'celery', 'django_q',"
        " 'oban', 'django_ox')))"
    )
    return (
        subprocess.run(
            [str(PEER_VENV_PYTHON), "-c", code], check=False, capture_output=True
        ).returncode
        == 0
    )


# -- the report ------------------------------------------------------------------------------


def figures(results: dict[str, Any]) -> list[tuple[str, str, Any, str, str]]:
    """(key, workload, value, unit, detail) rows of the table, ours."""
    rows: list[tuple[str, str, Any, str, str]] = []
    empty = results.get("empty", {})

    def runs(entry: dict, key: str | None = None) -> str:
        values = [r[key] if key else r for r in entry.get("runs", [])]
        return "runs " + " / ".join(f"{v:,.0f}" for v in values) if len(values) > 1 else ""

    for prefix, block, title in (
        ("", empty, ""),
        ("history.", results.get("history", {}), "history: "),
    ):
        if not block:
            continue
        if "enqueue_one" in block:
            rows.append(
                (
                    prefix + "enqueue_one",
                    f"{title}enqueue one-by-one (delay)",
                    block["enqueue_one"]["tasks_per_s"],
                    "tasks/s",
                    runs(block["enqueue_one"]),
                )
            )
        for key, name in (
            ("enqueue_many", "enqueue bulk (enqueue_many)"),
            ("enqueue_group", "enqueue bulk (group)"),
        ):
            if key in block:
                rows.append(
                    (
                        prefix + key,
                        title + name,
                        block[key]["tasks_per_s"],
                        "tasks/s",
                        runs(block[key]),
                    )
                )
        if "drain" in block:
            d = block["drain"]
            rows.append(
                (
                    prefix + "drain",
                    f"{title}drain, spawn -> all SUCCESS",
                    d["tasks_per_s"],
                    "tasks/s",
                    runs(d, "tasks_per_s"),
                )
            )
            rows.append(
                (
                    prefix + "drain_steady",
                    f"{title}drain, first -> last done",
                    d["steady_tasks_per_s"],
                    "tasks/s",
                    f"first done {d['first_done_s']} s, burst exit {d['exit_s']} s, "
                    f"worker CPU {d['worker_cpu_ms_per_task']} ms/task",
                )
            )
    if "latency" in results:
        lat = results["latency"]
        for p in ("p50", "p95", "p99"):
            rows.append(
                (
                    f"latency_{p}",
                    f"latency before delay() -> start {p}",
                    lat[f"{p}_ms"],
                    "ms",
                    (
                        f"{lat['samples']} samples"
                        + (" (time budget)" if "truncated_after_s" in lat else "")
                        + "; "
                        if p == "p50"
                        else ""
                    )
                    + f"after delay() returned: {lat['after_return'].get(f'{p}_ms')} ms",
                )
            )
    if "idle" in results:
        idle = results["idle"]
        rows.append(
            (
                "idle_cpu",
                "idle worker CPU",
                idle["cpu_percent"],
                "% of a core",
                f"{idle['processes']} processes, {idle['seconds']} s",
            )
        )
        rows.append(
            (
                "idle_statements",
                "idle worker statements",
                idle["statements_per_s"],
                "/s",
                "logged at the driver, bench/apps.py",
            )
        )
        if "xacts_per_s" in idle:
            rows.append(
                (
                    "idle_xacts",
                    "idle worker transactions",
                    idle["xacts_per_s"],
                    "/s",
                    "pg_stat_database",
                )
            )
    if "history" in results and "idle" in results["history"]:
        idle = results["history"]["idle"]
        rows.append(
            ("history.idle_cpu", "history: idle worker CPU", idle["cpu_percent"], "% of a core", "")
        )
        rows.append(
            (
                "history.idle_statements",
                "history: idle worker statements",
                idle["statements_per_s"],
                "/s",
                "",
            )
        )
    if "backlog" in results:
        b = results["backlog"]
        for label in ("alone", "beside"):
            rows.append(
                (
                    f"backlog.{label}",
                    f"queue 'mail' drain {label}"
                    + (f" {b['rows']:,} waiting in 'bulk'" if label == "beside" else ""),
                    b[label]["steady_tasks_per_s"],
                    "tasks/s",
                    f"spawn -> last done {b[label]['tasks_per_s']} tasks/s",
                )
            )
        verdict = "met" if b["ratio_steady"] >= 0.9 else "NOT met"
        rows.append(
            (
                "backlog.ratio",
                "beside a backlog / alone (target >= 0.9)",
                b["ratio_steady"],
                "x",
                f"{verdict}; spawn -> last done {b['ratio']}x",
            )
        )
    if "history" in results:
        h = results["history"]
        rows.append(
            (
                "history_rows",
                "history: finished rows",
                h["rows"],
                "rows",
                f"inserted in {h['insert_s']} s",
            )
        )
        for key, ratio in h.get("ratios", {}).items():
            rows.append((f"ratio.{key}", f"history / empty: {key}", ratio, "x", ""))
    if "memory" in results:
        for mark, procs in results["memory"].items():
            kids = {k: v for k, v in procs.items() if k not in ("supervisor", "elapsed_s")}
            rss = " / ".join(f"{v.get('vmrss', 0) / 1024:.1f}" for v in kids.values())
            pss = " / ".join(f"{v.get('pss', 0) / 1024:.1f}" for v in kids.values())
            rows.append(
                (
                    f"memory_{mark}",
                    f"child RSS after {int(mark):,} tasks",
                    rss,
                    "MiB",
                    f"PSS {pss} MiB",
                )
            )
    return rows


PEER_KEYS = {
    "enqueue_one": lambda r: r.get("enqueue_one"),
    "enqueue_many": lambda r: r.get("enqueue_bulk"),
    "drain": lambda r: (r.get("drain") or {}).get("tasks_per_s"),
    "drain_steady": lambda r: (r.get("drain") or {}).get("steady_tasks_per_s"),
    "latency_p50": lambda r: (r.get("latency") or {}).get("p50_ms"),
    "latency_p95": lambda r: (r.get("latency") or {}).get("p95_ms"),
    "latency_p99": lambda r: (r.get("latency") or {}).get("p99_ms"),
}


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(report: dict[str, Any]) -> None:
    meta, results = report["meta"], report["results"]
    peers = report.get("peers") or {}
    print()
    print(
        f"django_tasks benchmark on {meta['vendor']} {meta['server_version']} "
        f"({meta['database']}); N={meta['n']:,} (one-by-one {meta['n_one']:,}), "
        f"{meta['repeat']} runs (medians), runtasks -c {meta['concurrency']} "
        f"-l {meta['loglevel']}, {meta['cpus']} CPUs, load average at start "
        f"{meta['loadavg_start'][0]:.2f}"
    )
    rows = figures(results)
    header = f"{'workload':<36} {'ours':>12} {'unit':<12}"
    for peer in peers:
        header += f" {peer[:16]:>16} {'÷ours':>6}"
    print(header)
    print("-" * len(header))
    for key, name, value, unit, detail in rows:
        line = f"{name:<36} {fmt(value):>12} {unit:<12}"
        for res in peers.values():
            get = PEER_KEYS.get(key)
            theirs = get(res) if get and "error" not in res else None
            ratio = (
                f"{theirs / value:.2f}"
                if isinstance(theirs, int | float) and isinstance(value, int | float) and value
                else ""
            )
            line += f" {fmt(theirs):>16} {ratio:>6}"
        if detail and not peers:
            line += f"  {detail}"
        print(line)
    for peer, res in peers.items():
        problems = res.get("error") or res.get("errors")
        if problems:
            print(f"  {peer}: {problems}")
    if peers:
        print(
            "  ÷ours: the peer's figure divided by ours (throughput: < 1 means slower than "
            "ours; latency: > 1 means slower)."
        )


# Issue 15's targets: (key, what, our figure, the bound it is held to, how it is compared).
# A peer's figure that is missing (peer not run, or failed) leaves its target unjudged.
def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    results, peers = report["results"], report.get("peers") or {}
    empty, latency = results.get("empty", {}), results.get("latency", {})

    def ours(key: str, field: str = "tasks_per_s") -> float | None:
        return (empty.get(key) or {}).get(field)

    def theirs(peer: str, key: str) -> float | None:
        res = peers.get(peer)
        return PEER_KEYS[key](res) if res and "error" not in res else None

    out: list[dict[str, Any]] = []

    def judge(what: str, value: Any, bound: Any, ok: bool | None, detail: str = "") -> None:
        verdict = "unjudged" if ok is None else ("met" if ok else "NOT met")
        out.append(
            {"target": what, "ours": value, "bound": bound, "verdict": verdict, "detail": detail}
        )

    def at_least(what: str, value: float | None, factor: float, peer: str, key: str) -> None:
        other = theirs(peer, key)
        ok = None if value is None or other is None else value >= factor * other
        ratio = f"{value / other:.2f}x {peer}" if value and other else f"{peer}: no figure"
        judge(what, value, f">= {factor}x {peer} ({fmt(other)})", ok, ratio)

    at_least("enqueue one by one", ours("enqueue_one"), 1.3, "pgqueuer", "enqueue_one")
    at_least("enqueue_many", ours("enqueue_many"), 2.0, "pgqueuer", "enqueue_many")
    at_least("drain, spawn -> all done", ours("drain"), 2.0, "pgqueuer", "drain")
    p50, p99 = latency.get("p50_ms"), latency.get("p99_ms")
    judge("latency p50 from before delay()", p50, "<= 2 ms", None if p50 is None else p50 <= 2)
    for peer in ("pgqueuer", "celery"):
        other = theirs(peer, "latency_p50")
        ok = None if p50 is None or other is None else p50 < other
        judge(f"latency p50 below {peer}'s", p50, f"< {fmt(other)} ms", ok)
    judge("latency p99 from before delay()", p99, "<= 5 ms", None if p99 is None else p99 <= 5)
    backlog = results.get("backlog")
    if backlog:
        ratio = backlog["ratio_steady"]
        judge("a queue beside a backlog / alone", ratio, ">= 0.9", ratio >= 0.9)
    return out


def print_targets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print("\ntargets (issue 15; one run, side by side):")
    for r in rows:
        detail = f"  ({r['detail']})" if r["detail"] else ""
        print(
            f"  {r['verdict']:<9} {r['target']:<36} {fmt(r['ours']):>10}  "
            f"target {r['bound']}{detail}"
        )


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    ap.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL),
        help="the benchmark's own database: it is DROPPED and recreated "
        "(default: $BENCH_DATABASE_URL or %(default)s)",
    )
    ap.add_argument(
        "--n",
        type=int,
        default=20000,
        help="tasks per bulk enqueue and drain (default %(default)s)",
    )
    ap.add_argument(
        "--n-one", type=int, default=5000, help="tasks enqueued one by one (default %(default)s)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per throughput figure")
    ap.add_argument("--samples", type=int, default=200, help="latency samples")
    ap.add_argument(
        "--latency-budget",
        type=float,
        default=60.0,
        help="stop sampling latency after this many seconds (default %(default)s)",
    )
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--history-rows", type=int, default=1_000_000)
    ap.add_argument(
        "--backlog-rows",
        type=int,
        default=1_000_000,
        help="rows waiting in another queue in the backlog phase (default %(default)s)",
    )
    ap.add_argument("--concurrency", type=int, default=2, help="runtasks -c")
    ap.add_argument("--loglevel", default="warning", help="runtasks -l (default warning)")
    ap.add_argument(
        "--phases",
        default="enqueue,drain,latency,idle,history,backlog",
        help=f"comma-separated subset of {','.join(PHASES)}",
    )
    ap.add_argument(
        "--memory",
        action="store_true",
        help="also the memory phase (RSS after --memory-marks tasks; minutes)",
    )
    ap.add_argument("--memory-marks", default="10000,200000")
    ap.add_argument(
        "--peers",
        nargs="?",
        const=",".join(PEERS),
        default="",
        help="also run bench/peers/run.py for these peers (default: all)",
    )
    ap.add_argument(
        "--peer-n", type=int, default=None, help="--n passed to the peers (default: our --n)"
    )
    ap.add_argument("--peer-timeout", type=float, default=1200.0)
    ap.add_argument(
        "--json",
        metavar="PATH",
        help="write the results there (default bench/results/<time>-<vendor>.json)",
    )
    args = ap.parse_args(argv)
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if args.memory:
        args.phases.add("memory")
    unknown = args.phases - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = set(args.peers) - set(PEERS)
    if bad:
        ap.error(f"unknown peers: {', '.join(sorted(bad))}")
    args.peer_n = args.peer_n or args.n
    args.memory_marks = [int(m) for m in args.memory_marks.split(",")]
    return args


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    import hashlib

    diff = git("diff", "HEAD", "--", "django_tasks")
    untracked = git("ls-files", "--others", "--exclude-standard", "django_tasks")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        # Work in progress is measured too: this tells two states of it apart.
        "django_tasks_dirty": bool(diff or untracked),
        "django_tasks_diff_sha1": hashlib.sha1(
            (diff + untracked).encode(), usedforsecurity=False
        ).hexdigest()[:12]
        if diff or untracked
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    vendor = vendor_of(url)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    logdir = RESULTS / f"{stamp}-{vendor}-logs"
    logdir.mkdir()
    log(f"{vendor}: recreating and migrating the benchmark database")
    recreate_database(url)
    setup_django(url)
    import django

    db = DB(url)
    bench = Bench(args, db, logdir)
    safe_url = (
        url.replace(f":{url_params(url)['PASSWORD']}@", ":***@")
        if url_params(url).get("PASSWORD")
        else url
    )
    meta = {
        "timestamp": stamp,
        "vendor": vendor,
        "database": safe_url,
        "server_version": db.server_version(),
        "autovacuum": db.setting("autovacuum"),
        "synchronous_commit": db.setting("synchronous_commit"),
        "n": args.n,
        "n_one": args.n_one,
        "repeat": args.repeat,
        "samples": args.samples,
        "concurrency": args.concurrency,
        "loglevel": args.loglevel,
        "history_rows": args.history_rows,
        "phases": sorted(args.phases),
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpus": os.cpu_count(),
        "host": socket.gethostname(),
        **git_state(),
        # Others may share the machine: a busy one lowers every figure.
        "loadavg_start": os.getloadavg(),
        "vacuum": "VACUUM ANALYZE of the queue tables before each measurement"
        if vendor == "postgresql"
        else "ANALYZE + wal_checkpoint before each measurement",
    }
    report: dict[str, Any] = {"meta": meta, "results": {}}
    results = report["results"]
    started = time.monotonic()
    failures: dict[str, str] = {}

    def phase(name: str, fn, *a):
        log(f"{vendor}: {name}")
        try:
            results[name] = fn(*a)
        except BenchError as exc:
            failures[name] = str(exc)
            log(f"{vendor}: {name} FAILED: {exc}")

    if args.phases & {"enqueue", "drain"}:
        phase("empty", run_throughput, bench, args.n, args.n_one, args.repeat, "empty")
    if "latency" in args.phases:
        db.reset()
        phase("latency", bench.latency, args.samples, args.latency_budget)
    if "idle" in args.phases:
        db.reset()
        phase("idle", bench.idle, args.idle_seconds)
    if "history" in args.phases and args.phases & {"enqueue", "drain"}:

        def history() -> dict[str, Any]:
            db.reset()
            t0 = time.perf_counter()
            db.insert_history(args.history_rows)
            db.vacuum()
            db.checkpoint()
            insert_s = round(time.perf_counter() - t0, 1)
            log(f"{vendor}: {args.history_rows:,} finished rows in {insert_s} s")
            out = run_throughput(bench, args.n, args.n_one, args.repeat, "history", history=True)
            out["rows"] = args.history_rows
            out["insert_s"] = insert_s
            empty = results.get("empty", {})
            ratios = {}
            for key in ("enqueue_one", "enqueue_many", "enqueue_group", "drain"):
                if key in out and key in empty and empty[key]["tasks_per_s"]:
                    ratios[key] = round(out[key]["tasks_per_s"] / empty[key]["tasks_per_s"], 2)
            if "drain" in out and "drain" in empty:
                ratios["drain_steady"] = round(
                    out["drain"]["steady_tasks_per_s"] / empty["drain"]["steady_tasks_per_s"], 2
                )
            if "idle" in args.phases:
                # An idle worker beside the history: its polls must not scan finished rows.
                log(f"{vendor}: idle worker beside {args.history_rows:,} finished rows")
                out["idle"] = bench.idle(args.idle_seconds)
            out["ratios"] = ratios
            db.reset()
            return out

        phase("history", history)
    if "backlog" in args.phases:
        phase("backlog", bench.backlog, args.n, args.backlog_rows)
    if "memory" in args.phases:
        db.reset()
        phase("memory", bench.memory, args.memory_marks)
    meta["wall_s"] = round(time.monotonic() - started, 1)
    meta["loadavg_end"] = os.getloadavg()
    if failures:
        report["failures"] = failures
    if args.peers:
        if vendor != "postgresql":
            log("peers run on PostgreSQL only; skipped on SQLite")
        else:
            report["peers"] = run_peers(args, url, stamp)
    report["targets"] = targets(report) if vendor == "postgresql" else []
    path = Path(args.json) if args.json else RESULTS / f"{stamp}-{vendor}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print_targets(report["targets"])
    print(
        f"\nJSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}; "
        f"worker logs: {logdir.relative_to(ROOT)}; {meta['wall_s']} s"
    )
    if failures:
        print(f"FAILED phases: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
