"""The dashboard's figures: each one indexed query, whatever the size of the history."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    Value,
)
from django.db.models.functions import Coalesce, Left, Now, TruncMinute
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from .. import conf, states
from ..broker.predicates import HELD
from ..models import TaskMessage, TaskMessageQuerySet, Worker
from .counts import estimated_count
from .display import STATE_ORDER, age, badge, progress_of

#: The dashboard's windows: finished counts, throughput bars, failures by type.
FINISHED_WINDOW = timedelta(hours=1)
THROUGHPUT_MINUTES = 15
FAILURE_WINDOW = timedelta(hours=24)
#: Characters of a recent failure's message read (the table truncates them to 120).
MESSAGE_SHOWN = 121


def _ago(delta: timedelta) -> ExpressionWrapper:
    """The database's now() minus `delta`: windows and ages use one clock for every host."""
    return ExpressionWrapper(Now() - Value(delta), output_field=DateTimeField())


def _since(expression) -> ExpressionWrapper:
    """How long ago `expression` was, by the database's clock."""
    return ExpressionWrapper(Now() - expression, output_field=DurationField())


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


class Dashboard:
    """
    The numbers on the dashboard, each from one indexed query.

    Live rows (waiting, claimed, running) are few and counted exactly through the claim and
    held-row indexes; finished rows are counted over recent windows through the ``dt_done``
    index (finished rows by done_at), so the page costs the same beside millions of old
    rows: tests/admin/test_scale.py checks each query's plan beside 1,000,000 of them.
    """

    def __init__(self, using: str, changelist_url: str, change_url: Callable[[str], str]):
        self.using = using
        self.changelist_url = changelist_url
        self.change_url = change_url
        # For the page's "as of" and the throughput bars' minutes only: every comparison
        # with a row's time runs in SQL against the database's now().
        self.now = timezone.now()

    @property
    def tasks(self) -> TaskMessageQuerySet:
        return TaskMessage.objects.using(self.using)

    def filter_url(self, **params: str) -> str:
        return f"{self.changelist_url}?{urlencode(params)}"

    def context(self) -> dict[str, Any]:
        queues = self.queues()
        return {
            "now": self.now,
            "summary": self.summary(queues),
            "queue_table": queues,
            "throughput": self.throughput(),
            "oldest": self.oldest_waiting(),
            "workers": self.workers(),
            "failure_types": self.failure_types(),
            "recent_failures": self.recent_failures(),
            "finished_window": int(FINISHED_WINDOW.total_seconds() // 60),
            "throughput_minutes": THROUGHPUT_MINUTES,
            "failure_window": int(FAILURE_WINDOW.total_seconds() // 3600),
            "total": self.total(),
        }

    def total(self) -> dict[str, Any]:
        estimate = estimated_count(self.tasks)
        if estimate is not None:
            return {"count": estimate, "estimated": True}
        return {"count": self.tasks.count(), "estimated": False}

    def queues(self) -> dict[str, Any]:
        """Counts per queue and state: live states now, finished ones in the last hour."""
        counts: dict[str, Counter] = defaultdict(Counter)
        scheduled: Counter = Counter()
        waiting = (
            self.tasks.claimable()
            .values("queue", "state")
            .annotate(n=Count("id"), later=Count("id", filter=Q(run_at__gt=Now())))
        )
        for row in waiting:
            counts[row["queue"]][row["state"]] += row["n"]
            scheduled[row["queue"]] += row["later"]
        for row in self.tasks.held().values("queue", "state").annotate(n=Count("id")):
            counts[row["queue"]][row["state"]] += row["n"]
        finished = (
            self.tasks.finished()
            .filter(done_at__gte=_ago(FINISHED_WINDOW))
            .values("queue", "state")
            .annotate(n=Count("id"))
        )
        for row in finished:
            counts[row["queue"]][row["state"]] += row["n"]
        seen = {s for c in counts.values() for s, n in c.items() if n}
        custom = sorted(seen - set(STATE_ORDER))
        # The states every queue has a column for; the rarer ones only when they occur.
        core = {states.PENDING, states.STARTED, states.SUCCESS, states.FAILURE}
        live = [s for s in STATE_ORDER[:4] if s in core or s in seen] + custom
        done = [s for s in STATE_ORDER[4:] if s in core or s in seen]
        columns = [*live, *done]
        rows = []
        totals: Counter = Counter()
        for queue in sorted(counts):
            cells = [
                {"state": s, "n": counts[queue][s], "url": self.filter_url(queue=queue, state=s)}
                for s in columns
            ]
            rows.append(
                {
                    "queue": queue,
                    "cells": cells,
                    "scheduled": scheduled[queue],
                    "url": self.filter_url(queue=queue),
                }
            )
            totals.update(counts[queue])
        return {
            "columns": [
                {"state": s, "badge": badge(s), "live": s not in states.FINISHED_STATES}
                for s in columns
            ],
            "live_span": len(live),
            "done_span": len(done),
            "rows": rows,
            "totals": [
                {"state": s, "n": totals[s], "url": self.filter_url(state=s)} for s in columns
            ],
            "scheduled": sum(scheduled.values()),
            "by_state": totals,
        }

    def summary(self, queues: dict[str, Any]) -> list[dict[str, Any]]:
        by_state = queues["by_state"]
        waiting = by_state[states.PENDING] + by_state[states.RETRY] - queues["scheduled"]
        running = sum(n for s, n in by_state.items() if s in HELD)
        return [
            {
                "label": _("Waiting"),
                "n": waiting,
                "kind": "pending",
                "url": self.filter_url(state=states.PENDING),
            },
            {
                "label": _("Scheduled"),
                "n": queues["scheduled"],
                "kind": "retry",
                "url": self.filter_url(state=states.PENDING),
            },
            {
                "label": _("Running"),
                "n": running,
                "kind": "started",
                "url": self.filter_url(state=states.STARTED),
            },
            {
                "label": _("Succeeded (last hour)"),
                "n": by_state[states.SUCCESS],
                "kind": "success",
                "url": self.filter_url(state=states.SUCCESS),
            },
            {
                "label": _("Failed (last hour)"),
                "n": by_state[states.FAILURE],
                "kind": "failure",
                "url": self.filter_url(state=states.FAILURE),
            },
        ]

    def throughput(self) -> dict[str, Any]:
        """Tasks finished per minute over the last minutes (successes and the rest)."""
        start = (self.now - timedelta(minutes=THROUGHPUT_MINUTES - 1)).replace(
            second=0, microsecond=0
        )
        rows = (
            self.tasks.finished()
            .filter(done_at__gte=start)
            .annotate(minute=TruncMinute("done_at"))
            .values("minute")
            .annotate(ok=Count("id", filter=Q(state=states.SUCCESS)), all=Count("id"))
        )
        per_minute = {_minute_key(r["minute"]): r for r in rows}
        bars = []
        for i in range(THROUGHPUT_MINUTES):
            minute = start + timedelta(minutes=i)
            r = per_minute.get(_minute_key(minute), {"ok": 0, "all": 0})
            bars.append(
                {"minute": minute, "ok": r["ok"], "other": r["all"] - r["ok"], "all": r["all"]}
            )
        peak = max((b["all"] for b in bars), default=0) or 1
        for b in bars:
            b["ok_pct"] = round(100 * b["ok"] / peak, 1)
            b["other_pct"] = round(100 * b["other"] / peak, 1)
        total = sum(b["all"] for b in bars)
        return {
            "bars": bars,
            "peak": peak,
            "total": total,
            "per_minute": round(total / THROUGHPUT_MINUTES, 1),
        }

    def oldest_waiting(self) -> dict[str, Any] | None:
        row = (
            self.tasks.claimable()
            .filter(run_at__lte=Now())
            .order_by("run_at")
            .annotate(waited=_since(F("run_at")))
            .values("id", "name", "queue", "run_at", "waited")
            .first()
        )
        if row is None:
            return None
        seconds = _seconds(row["waited"])
        return {**row, "age": age(seconds), "seconds": seconds, "url": self.change_url(row["id"])}

    def workers(self) -> list[dict[str, Any]]:
        """Live worker processes, their heartbeat's age and the tasks they run now."""
        running: dict[str, list[dict[str, Any]]] = defaultdict(list)
        # Every row a worker holds: running (started, or in a custom state) and claimed
        # ones, which it runs next. The held-row index finds them among millions.
        held = (
            self.tasks.held()
            .exclude(worker="")
            .order_by("reserved_at")
            .annotate(held_for=_since(Coalesce("started_at", "reserved_at")))
            # Of a meta (which may be large) only the two keys a progress bar reads.
            .values("id", "name", "state", "worker", "held_for", "result__current", "result__total")
        )
        for row in held:
            meta = {"current": row.pop("result__current"), "total": row.pop("result__total")}
            running[row["worker"]].append(
                {
                    **row,
                    "badge": badge(row["state"]),
                    "url": self.change_url(row["id"]),
                    "for": age(_seconds(row["held_for"])) if row["held_for"] else "",
                    "progress": progress_of(row["state"], meta),
                }
            )
        timeout = conf.get("HEARTBEAT_TIMEOUT")
        workers = []
        live = Worker.objects.using(self.using).annotate(heartbeat_age=_since(F("heartbeat_at")))
        for w in live.order_by("hostname", "supervisor", "name"):
            seconds = _seconds(w.heartbeat_age)
            workers.append(
                {
                    "worker": w,
                    "heartbeat_age": age(seconds),
                    "stale": seconds > timeout,
                    "tasks": running.pop(w.name, []),
                }
            )
        # Rows held by a name with no worker row: a worker that is gone (recovery is due).
        for name, rows in sorted(running.items()):
            workers.append(
                {"worker": None, "name": name, "tasks": rows, "stale": True, "heartbeat_age": "-"}
            )
        return workers

    def failure_types(self) -> list[dict[str, Any]]:
        rows = (
            self.tasks.filter(state=states.FAILURE, done_at__gte=_ago(FAILURE_WINDOW))
            .values("exc_type")
            .annotate(n=Count("id"), last=Max("done_at"))
            .order_by("-n")[:10]
        )
        return [
            {**r, "url": self.filter_url(state=states.FAILURE, exc_type=r["exc_type"])}
            for r in rows
        ]

    def recent_failures(self) -> list[dict[str, Any]]:
        # (state, -created_at) is indexed: newest failures first without a scan.
        rows = (
            self.tasks.filter(state=states.FAILURE)
            .order_by("-created_at")
            # The table shows 120 characters of a message that may be megabytes.
            .annotate(message=Left("exc_message", MESSAGE_SHOWN))
            .values("id", "name", "exc_type", "message", "done_at", "retries")[:10]
        )
        return [
            {**r, "exc_message": r.pop("message"), "url": self.change_url(r["id"])} for r in rows
        ]


def _minute_key(value: datetime) -> tuple:
    value = value.astimezone(UTC)
    return (value.year, value.month, value.day, value.hour, value.minute)
