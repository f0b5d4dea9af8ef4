"""Run the benchmark workloads against one peer task queue.

Usage (from anywhere; re-executes itself with .venv-bench's Python when the
current interpreter lacks the peers, see setup.sh)::

    python bench/peers/run.py --peer procrastinate --n 5000 --json out.json

Peers: procrastinate, pgqueuer, django_tasks_db, celery, django_q2, oban,
django_ox (one module each in this directory).  Workloads, in order:

* ``enqueue_one``  -- n no-op tasks enqueued one by one (one commit each)
  through the peer's normal API, tasks/s;
* ``enqueue_bulk`` -- n tasks through the peer's bulk API, tasks/s (null if
  the peer has none);
* ``drain``        -- n tasks queued first, then the peer's own workers
  started at concurrency 2; clock from worker start to all n done;
* ``latency``      -- workers idle; enqueue one task that records its start
  time, enqueue-commit -> task start, p50/p95/p99 in ms.

The result is one JSON object: peer, version, config, params and the figures.
Every workload that fails is reported under ``errors`` (and the exit status
is 1) while the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENV_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"

# ``python bench/peers/run.py`` puts bench/peers on sys.path, where the adapter
# modules (procrastinate.py, celery.py, ...) would shadow the real packages.
# Import the adapters as ``bench.peers.<peer>`` from the repo root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO_ROOT))

PEERS = ("procrastinate", "pgqueuer", "django_tasks_db", "celery", "django_q2", "oban", "django_ox")
PHASES = ("enqueue_one", "enqueue_bulk", "drain", "latency")
# Distribution that must be importable for each peer (to pick the venv).
PEER_DIST = {
    "procrastinate": "procrastinate",
    "pgqueuer": "pgqueuer",
    "django_tasks_db": "django_tasks_db",
    "celery": "celery",
    "django_q2": "django_q",
    "oban": "oban",
    "django_ox": "django_ox",
}


def _maybe_reexec(peer: str) -> None:
    """Re-run under .venv-bench's Python if the peer isn't importable here."""
    if importlib.util.find_spec(PEER_DIST[peer]) is not None:
        return
    if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606
    sys.exit(
        f"{PEER_DIST[peer]} is not installed here; run bench/peers/setup.sh and use {VENV_PYTHON}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, choices=PEERS)
    ap.add_argument("--n", type=int, default=5000, help="tasks per throughput workload")
    ap.add_argument("--samples", type=int, default=200, help="latency samples")
    ap.add_argument("--json", metavar="PATH", help="also write the results there")
    ap.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)}",
    )
    ap.add_argument("--timeout", type=float, help="drain timeout, s (default max(120, n/100))")
    ap.add_argument(
        "--latency-budget", type=float, help="max seconds for the latency phase (default 60)"
    )
    ap.add_argument(
        "--concurrency", type=int, help="total tasks in flight across workers (default 2)"
    )
    ap.add_argument(
        "--procs",
        type=int,
        help="worker processes, where a separate knob (procrastinate, pgqueuer, oban, django_ox)",
    )
    args = ap.parse_args(argv)

    _maybe_reexec(args.peer)
    from bench.peers import _common as c

    if args.timeout is not None:
        c.DRAIN_TIMEOUT_S = args.timeout
    if args.latency_budget is not None:
        c.LATENCY_BUDGET_S = args.latency_budget
    if args.concurrency is not None:
        c.WORKER_CONCURRENCY = args.concurrency

    adapter = importlib.import_module(f"bench.peers.{args.peer}")
    if args.procs is not None:
        if not hasattr(adapter, "WORKER_PROCS"):
            ap.error(f"--procs is not a knob of {args.peer}")
        adapter.WORKER_PROCS = args.procs

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")

    results: dict = {
        "peer": args.peer,
        "version": adapter.version(),
        "config": adapter.config(),
        "params": {
            "n": args.n,
            "samples": args.samples,
            "concurrency": c.WORKER_CONCURRENCY,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "errors": {},
    }
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{args.peer} {time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def run_phases() -> None:
        log("setup")
        try:
            adapter.setup(args.n)
        except Exception as e:  # nothing else can run; still write the JSON
            traceback.print_exc()
            results["errors"]["setup"] = f"{type(e).__name__}: {e}"
            return
        for phase in PHASES:
            if phase not in phases:
                continue
            log(phase)
            try:
                if phase == "latency":
                    value = adapter.latency(args.samples)
                else:
                    value = getattr(adapter, phase)(args.n)
            except Exception as e:  # report and go on with the other workloads
                traceback.print_exc()
                results["errors"][phase] = f"{type(e).__name__}: {e}"
                continue
            results[phase] = value
            log(f"{phase}: {json.dumps(value)}")

    try:
        with c.exclusive_run(args.peer):
            run_phases()
    except Exception as e:  # could not get (or keep) the per-peer lock
        traceback.print_exc()
        results["errors"]["lock"] = f"{type(e).__name__}: {e}"
    results["wall_s"] = round(time.monotonic() - t0, 1)
    if not results["errors"]:
        del results["errors"]

    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
