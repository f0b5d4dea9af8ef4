"""
Where the time goes: py-spy on a runtasks child during a drain, and EXPLAIN of the claim.

    pip install py-spy                       # into the environment that runs this
    python bench/hotspots.py                 # PostgreSQL dt_bench (DROPPED and recreated)
    python bench/hotspots.py --skip-pyspy --history-rows 200000

Writes into bench/results/<time>-hotspots/ and prints a summary (bench/PROFILE.md is written
from it by hand):

* drain-cpu.json  a drain of --n tasks without a profiler attached: CPU seconds of the worker
                  tree (supervisor + children) and of the PostgreSQL backends serving it;
* pyspy-raw.txt   ``py-spy record --idle --format raw`` of one child during a second drain
                  (collapsed stacks; --idle keeps the samples spent waiting for the database);
* pyspy-top.txt   the functions with the most samples, inclusive and self;
* enqueue-profile.txt  cProfile of 2,000 ``noop.delay()`` calls in autocommit;
* explain-*.txt   ``EXPLAIN (ANALYZE, BUFFERS)`` of django_tasks.broker.postgresql.CLAIM, run
                  three times in a rolled-back transaction: with 10,000 ready rows; beside
                  --history-rows finished rows; and that again after 10,000 of the ready rows
                  went RECEIVED -> started -> SUCCESS (as a worker moves them) with no VACUUM
                  since (dead index entries at the head of the claim index).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from bench.run import (  # noqa: E402
    DB,
    DEFAULT_PG_URL,
    RESULTS,
    Bench,
    BenchError,
    log,
    recreate_database,
    setup_django,
    vendor_of,
    wait_until,
)

#: Values for the claim's parameters (by name); a new parameter must be given one here.
CLAIM_PARAMS = {"queues": ["default"], "limit": 100, "worker": "explain.1", "first_seq": 0}


def claim_params(sql: str) -> dict:
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    unknown = [n for n in names if n not in CLAIM_PARAMS]
    if unknown:
        raise BenchError(
            f"CLAIM has parameters {unknown!r} that bench/hotspots.py does not "
            "know; add values for them to CLAIM_PARAMS."
        )
    return {n: CLAIM_PARAMS[n] for n in names}


def explain_claim(db: DB, runs: int = 3) -> list[str]:
    """
    EXPLAIN (ANALYZE, BUFFERS) of CLAIM, each run rolled back.

    Runs 1..`runs` plan it with the values inlined (a custom plan); one more plans it as a
    prepared statement with plan_cache_mode = force_generic_plan: the broker prepares its
    statements server-side, and after five executions PostgreSQL may keep the generic plan.
    """
    from django.db import transaction

    from django_tasks.broker.postgresql import CLAIM

    params = claim_params(CLAIM)
    names = list(params)
    positional = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", CLAIM)
    plans = []
    for _ in range(runs):
        with transaction.atomic():
            rows = db.execute("EXPLAIN (ANALYZE, BUFFERS) " + CLAIM, params)
            transaction.set_rollback(True)
        plans.append("-- custom plan (values inlined)\n" + "\n".join(r[0] for r in rows))
    with transaction.atomic():
        db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        db.execute("PREPARE bench_claim AS " + positional)
        try:
            args = ", ".join(["%s"] * len(names))
            rows = db.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_claim({args})", list(params.values())
            )
        finally:
            db.execute("DEALLOCATE bench_claim")
        transaction.set_rollback(True)
    plans.append(
        "-- generic plan (prepared statement, plan_cache_mode = "
        "force_generic_plan)\n" + "\n".join(r[0] for r in rows)
    )
    return plans


def enqueue(bench: Bench, n: int) -> None:
    for start in range(0, n, 20000):
        bench.tasks.noop.enqueue_many([()] * min(20000, n - start))


def simulate_worked(db: DB, n: int) -> None:
    """Move the `n` oldest ready rows as a worker does (claim, start marker, finish)."""
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT id FROM {db.table} WHERE state = 'PENDING' ORDER BY priority DESC, run_at "
            "LIMIT %s",
            [n],
        )
    ]
    for start in range(0, len(ids), 100):
        batch = ids[start : start + 100]
        db.execute(
            f"UPDATE {db.table} SET state = 'RECEIVED', worker = 'sim.1', "
            "reserved_at = now() WHERE id = ANY(%s)",
            [batch],
        )
        db.execute(f"UPDATE {db.table} SET started_at = now() WHERE id = ANY(%s)", [batch])
        db.execute(
            f"UPDATE {db.table} SET state = 'SUCCESS', done_at = now() WHERE id = ANY(%s)", [batch]
        )


def backend_ticks(db: DB, seen: dict[int, int]) -> None:
    """Record the CPU ticks of every backend connected to the benchmark database now."""
    import psycopg

    from bench.run import url_params

    p = url_params(db.url)
    with psycopg.connect(
        host=p["HOST"] or None,
        port=p["PORT"] or None,
        user=p["USER"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (p["NAME"],),
            )
        ]
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[pid] = max(seen.get(pid, 0), int(fields[11]) + int(fields[12]))


def drain_cpu(bench: Bench, n: int) -> dict:
    """A drain with no profiler: CPU of the worker tree and of its PostgreSQL backends."""
    import os
    import resource

    db = bench.db
    db.reset()
    enqueue(bench, n)
    db.vacuum()
    harness_pid = db.execute("SELECT pg_backend_pid()")[0][0]
    seen: dict[int, int] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker = bench.runtasks("--burst", label="cpu-drain")
    t0 = time.time()
    try:
        while worker.alive():
            backend_ticks(db, seen)
            time.sleep(0.1)
    finally:
        worker.stop()
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen.pop(harness_pid, None)
    tck = os.sysconf("SC_CLK_TCK")
    worker_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    pg_cpu = sum(seen.values()) / tck
    done, first, last = db.done_span()
    return {
        "n": n,
        "done": done,
        "wall_s": round(wall, 2),
        "steady_tasks_per_s": round(n / (last - first), 1),
        "worker_cpu_s": round(worker_cpu, 2),
        "postgres_backends_cpu_s": round(pg_cpu, 2),
        "postgres_backends": len(seen),
        "worker_cpu_ms_per_task": round(1000 * worker_cpu / n, 3),
        "postgres_cpu_ms_per_task": round(1000 * pg_cpu / n, 3),
        "note": "backend CPU is sampled every 0.1 s; a backend's last 0.1 s may be missed",
    }


def pyspy(bench: Bench, n: int, out: Path, rate: int) -> Path:
    """py-spy record (raw, --idle) of one runtasks child while it drains `n` tasks."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise BenchError("py-spy is not installed: pip install py-spy")
    db = bench.db
    db.reset()
    enqueue(bench, n)
    db.vacuum()
    raw = out / "pyspy-raw.txt"
    worker = bench.runtasks("--burst", label="pyspy-drain")
    try:
        children = wait_until(
            lambda: worker.children() if len(worker.children()) >= 1 else None,
            30,
            "a runtasks child",
            worker,
            interval=0.005,
        )
        child = children[0]
        spy = subprocess.run(
            [
                exe,
                "record",
                "--pid",
                str(child),
                "--idle",
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(raw),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        (out / "pyspy.log").write_text(spy.stdout + spy.stderr)
        worker.wait(timeout=600)
    finally:
        worker.stop()
    return raw


_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['fn']} ({path})"


def summarize_pyspy(raw: Path, top: int = 40) -> str:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        # py-spy prefixes the thread ("process 123:..."/"thread ..."): keep code frames only.
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        total += n
        for f in set(frames):
            inclusive[f] += n
        leaf[frames[-1]] += n
    lines = [f"{total} samples", "", "inclusive (share of samples with the function on the stack):"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    lines += ["", "self (share of samples where the function is the leaf):"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in leaf.most_common(top)]
    return "\n".join(lines)


def profile_enqueue(bench: Bench, n: int, out: Path) -> str:
    """cProfile of `n` ``noop.delay()`` calls in this process (autocommit, one row each)."""
    import cProfile
    import io
    import pstats

    bench.db.reset()
    delay = bench.tasks.noop.delay
    for _ in range(200):  # warm: connection, prepared statements
        delay()
    t0 = time.perf_counter()
    for _ in range(n):
        delay()
    unprofiled = n / (time.perf_counter() - t0)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        delay()
    profiler.disable()
    profiler.dump_stats(out / "enqueue.prof")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(15)
    bench.db.reset()
    return f"{n} delay() calls, {unprofiled:.0f}/s without the profiler\n" + text.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--database-url",
        default=DEFAULT_PG_URL,
        help="a PostgreSQL database of the benchmark's own: DROPPED and recreated",
    )
    ap.add_argument("--n", type=int, default=60000, help="tasks per profiled drain")
    ap.add_argument("--ready", type=int, default=10000, help="ready rows for EXPLAIN")
    ap.add_argument("--history-rows", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples/s")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--loglevel", default="warning")
    ap.add_argument("--skip-pyspy", action="store_true")
    ap.add_argument("--skip-explain", action="store_true")
    ap.add_argument("--skip-enqueue", action="store_true")
    args = ap.parse_args(argv)
    if vendor_of(args.database_url) != "postgresql":
        ap.error("hotspots profiles the PostgreSQL broker: give a postgres:// URL.")
    out = RESULTS / f"{dt.datetime.now():%Y%m%d-%H%M%S}-hotspots"
    out.mkdir(parents=True)
    recreate_database(args.database_url)
    setup_django(args.database_url)
    db = DB(args.database_url)
    bench = Bench(argparse.Namespace(concurrency=args.concurrency, loglevel=args.loglevel), db, out)
    if not args.skip_pyspy:
        log(f"drain of {args.n} without a profiler (CPU split)")
        cpu = drain_cpu(bench, args.n)
        (out / "drain-cpu.json").write_text(json.dumps(cpu, indent=2) + "\n")
        print(json.dumps(cpu, indent=2))
        log(f"drain of {args.n} with py-spy on one child")
        raw = pyspy(bench, args.n, out, args.rate)
        summary = summarize_pyspy(raw)
        (out / "pyspy-top.txt").write_text(summary + "\n")
        print(summary)
    if not args.skip_enqueue:
        log("cProfile of delay()")
        text = profile_enqueue(bench, 2000, out)
        (out / "enqueue-profile.txt").write_text(text)
        print(text)
    if not args.skip_explain:
        scenarios = []
        db.reset()
        enqueue(bench, args.ready)
        db.vacuum()
        scenarios.append(
            (f"{args.ready} ready rows, empty history, after VACUUM ANALYZE", "explain-ready.txt")
        )
        plans = [explain_claim(db)]
        log(f"inserting {args.history_rows:,} finished rows")
        db.insert_history(args.history_rows)
        db.vacuum()
        scenarios.append(
            (
                f"{args.ready} ready rows beside {args.history_rows:,} finished "
                "rows, after VACUUM ANALYZE",
                "explain-history.txt",
            )
        )
        plans.append(explain_claim(db))
        enqueue(bench, args.ready)
        simulate_worked(db, args.ready)
        scenarios.append(
            (
                f"as above, after {args.ready} rows went RECEIVED -> started -> "
                "SUCCESS with no VACUUM since",
                "explain-history-dead.txt",
            )
        )
        plans.append(explain_claim(db))
        for (title, name), runs in zip(scenarios, plans, strict=True):
            text = "\n\n".join(f"-- run {i + 1} of {len(runs)}\n{p}" for i, p in enumerate(runs))
            (out / name).write_text(f"-- {title}\n{text}\n")
            print(f"\n== {title}\n{text}")
        db.reset()
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
