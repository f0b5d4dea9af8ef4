"""
Periodic tasks inside every supervisor: no beat process, no leader, each tick sent once.

Every ``runtasks`` supervisor (unless ``--without-beat``) calls ``Beat.turn()`` once per
loop turn. At most once a second it asks the database which enabled entries are due (one
indexed query: ``next_run_at <= now()``); an idle site costs that one query. For a due entry
it moves ``next_run_at`` from the tick it read to the next tick with a compare-and-set
UPDATE and, in the same transaction, inserts the tick's task through ``sending.send``. Two
supervisors that read the same tick race on that UPDATE: the database lets one change the
row, the other's WHERE no longer matches (0 rows) and it sends nothing. The task id is also
derived from (entry, tick), so a second insert of one tick would hit the primary key.

After downtime an entry's missed ticks produce one run: the next tick is the first one
after now (Celery beat's behaviour).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Now

from .. import conf
from ..hints import closest
from ..schedules import BaseSchedule, crontab, maybe_schedule, schedule
from ..sending import build_message, send

logger = logging.getLogger("django_tasks.worker.beat")

#: How often a supervisor asks whether an entry is due (seconds).
CHECK_INTERVAL = 1.0
#: The built-in entry that prunes finished tasks (Celery beat's ``celery.backend_cleanup``).
CLEANUP_ENTRY = "django_tasks.backend_cleanup"
#: Keys of a schedule entry (Celery's).
ENTRY_KEYS = ("task", "schedule", "args", "kwargs", "options", "relative")
_TICK_NAMESPACE = uuid.UUID("6f1d7c3e-2b7a-4f7e-9a51-0c2d9e5b8a14")


def tick_task_id(entry: str, tick: datetime) -> str:
    """The task id of `entry`'s `tick`: the same on every host, so a tick has one row."""
    return str(uuid.uuid5(_TICK_NAMESPACE, f"{entry}\n{tick.isoformat()}"))


def entry_schedule(row: Any) -> BaseSchedule:
    """The schedule a stored entry (a ``PeriodicTask`` or its values) says."""
    interval = row["interval"] if isinstance(row, Mapping) else row.interval
    cron = row["crontab"] if isinstance(row, Mapping) else row.crontab
    if interval is not None:
        return schedule(run_every=interval)
    return crontab.from_string(cron)


def stored_schedule(value: BaseSchedule) -> dict[str, Any]:
    """The model fields that store `value`: ``interval`` or ``crontab``."""
    if isinstance(value, schedule):
        return {"interval": value.seconds, "crontab": ""}
    if isinstance(value, crontab):
        return {"interval": None, "crontab": value.to_string()}
    raise TypeError(f"{value!r} cannot be stored: use seconds, schedule() or crontab().")


# -- declared entries (settings and code) -----------------------------------------------------


def declared_entries(app: Any) -> dict[str, dict[str, Any]]:
    """
    Every entry declared in settings or code, checked: name -> model fields.

    In order (later wins): the built-in ``backend_cleanup`` (daily at 04:00 when
    RESULT_EXPIRES is set), ``BEAT_SCHEDULE`` (``CELERY_BEAT_SCHEDULE``, ``app.conf.
    beat_schedule``), ``app.add_periodic_task(...)``. Raises ``ImproperlyConfigured`` naming
    the entry at fault (unknown task, bad schedule, bad arguments or options).
    """
    raw: dict[str, Any] = {}
    if conf.get("RESULT_EXPIRES") is not None:
        raw[CLEANUP_ENTRY] = {
            "task": "django_tasks.backend_cleanup",
            "schedule": crontab(minute=0, hour=4),
            "options": {"expires": 12 * 3600},
        }
    raw.update(conf.get("BEAT_SCHEDULE") or {})
    raw.update(getattr(app, "periodic_entries", {}))
    where = conf.setting_name("BEAT_SCHEDULE")
    return {name: _check_entry(app, name, entry, where) for name, entry in raw.items()}


def _check_entry(app: Any, name: str, entry: Any, where: str) -> dict[str, Any]:
    label = f"Periodic task {name!r} ({where})"
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(f"{label} must be a dict with 'task' and 'schedule'.")
    for key in entry:
        if key not in ENTRY_KEYS:
            close = closest(key, ENTRY_KEYS)
            hint = f" Did you mean {close!r}?" if close else ""
            raise ImproperlyConfigured(f"{label} has an unknown key {key!r}.{hint}")
    task = entry.get("task")
    if not isinstance(task, str) or not task:
        raise ImproperlyConfigured(f"{label} needs 'task': the task's name, not {task!r}.")
    if task not in app.tasks:
        close = closest(task, list(app.tasks))
        hint = f" Did you mean {close!r}?" if close else ""
        raise ImproperlyConfigured(
            f"{label}: task {task!r} is not registered in this worker.{hint}"
        )
    try:
        fields = stored_schedule(maybe_schedule(entry.get("schedule")))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{label}: {exc}") from None
    args, kwargs = entry.get("args") or (), entry.get("kwargs") or {}
    options = dict(entry.get("options") or {})
    try:
        # The same checks a send makes (signature, JSON, options), now rather than at a tick.
        message = build_message(task, tuple(args), dict(kwargs), call="a periodic entry", **options)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{label}: {exc}") from None
    return {
        "task": task,
        **fields,
        "args": list(message.args),
        "kwargs": dict(message.kwargs),
        "options": options,
    }


# -- the scheduler ----------------------------------------------------------------------------


class Beat:
    """A supervisor's part in scheduling: ``sync()`` at start, ``turn()`` every loop turn."""

    def __init__(self, app: Any, using: str, worker: str) -> None:
        self.app = app
        self.using = using
        self.worker = worker
        self._next_check = 0.0
        self.entries = declared_entries(app)  # raises before the worker starts

    def sync(self) -> None:
        """
        Store the declared entries (marked ``from_settings``); delete stored ones no longer
        declared. An entry's enabled flag is the admin's: a sync keeps it.
        """
        from ..models import PeriodicTask

        for attempt in range(3):
            try:
                with transaction.atomic(using=self.using):
                    rows = PeriodicTask.objects.using(self.using)
                    for name, fields in self.entries.items():
                        row = rows.filter(name=name).first() or PeriodicTask(name=name)
                        for key, value in fields.items():
                            setattr(row, key, value)
                        row.from_settings = True
                        row.save(using=self.using)
                    gone = rows.filter(from_settings=True).exclude(name__in=list(self.entries))
                    gone.delete()
                break
            except IntegrityError:  # another supervisor created the same entry first
                if attempt == 2:
                    raise
        logger.info("worker name=%s event=beat-sync entries=%d", self.worker, len(self.entries))

    def turn(self) -> int:
        """Send what is due, at most once per CHECK_INTERVAL; return the ticks sent."""
        now = time.monotonic()
        if now < self._next_check:
            return 0
        self._next_check = now + CHECK_INTERVAL
        return self.run_due()

    def run_due(self) -> int:
        """Send every due tick this supervisor wins; one query when nothing is due."""
        from ..models import PeriodicTask

        due = list(
            PeriodicTask.objects.using(self.using)
            .filter(Q(next_run_at__lte=Now()) | Q(next_run_at__isnull=True), enabled=True)
            .annotate(db_now=Now())
            .values(
                "id", "name", "task", "interval", "crontab", "args", "kwargs", "options",
                "one_off", "start_time", "expires", "next_run_at", "db_now",
            )
        )  # fmt: skip
        sent = 0
        for row in due:
            try:
                sent += self._tick(row)
            except Exception:
                logger.error(
                    "periodic name=%s event=tick-error worker=%s", row["name"], self.worker,
                    exc_info=True,
                )  # fmt: skip
        return sent

    def _tick(self, row: dict[str, Any]) -> int:
        from ..models import PeriodicTask

        rows = PeriodicTask.objects.using(self.using).filter(pk=row["id"], enabled=True)
        now, tick = row["db_now"], row["next_run_at"]
        sched = entry_schedule(row)
        if tick is None:  # new or edited: the first tick after now (and after its start)
            start = max(now, row["start_time"]) if row["start_time"] else now
            first = sched.next_after(start)
            rows.filter(next_run_at__isnull=True).update(next_run_at=first)
            return 0
        if row["expires"] is not None and now >= row["expires"]:
            rows.filter(next_run_at=tick).update(enabled=False, next_run_at=None)
            logger.info("periodic name=%s event=expired worker=%s", row["name"], self.worker)
            return 0
        # Missed ticks collapse into this one run: the next tick is the first after now.
        upcoming = sched.next_on_grid(tick, now) if isinstance(sched, schedule) else None
        upcoming = upcoming or sched.next_after(now)
        task_id = tick_task_id(row["name"], tick)
        options = dict(row["options"] or {})
        headers = {
            **(options.pop("headers", None) or {}),
            "periodic_task_name": row["name"],
            "periodic_tick": tick.isoformat(),
        }
        try:
            message = build_message(
                row["task"],
                tuple(row["args"] or ()),
                dict(row["kwargs"] or {}),
                call="a periodic entry",
                **{**options, "task_id": task_id, "headers": headers},
            )
        except (TypeError, ValueError) as exc:
            rows.filter(next_run_at=tick).update(next_run_at=upcoming)
            logger.error(
                "periodic name=%s event=bad-entry worker=%s error=%s", row["name"], self.worker, exc
            )
            return 0
        with transaction.atomic(using=self.using):
            won = rows.filter(next_run_at=tick).update(
                next_run_at=None if row["one_off"] else upcoming,
                enabled=not row["one_off"],
                last_run_at=Now(),
                last_task_id=task_id,
                total_run_count=F("total_run_count") + 1,
            )
            if won != 1:
                return 0  # another supervisor sent this tick
            send([message], using=self.using, on_commit=False)
        logger.info(
            "periodic name=%s event=sent task=%s id=%s tick=%s worker=%s",
            row["name"],
            row["task"],
            task_id,
            tick.isoformat(),
            self.worker,
        )
        skipped = 0 if row["one_off"] else _ticks_between(sched, tick, upcoming)
        if skipped:
            # Never silent: the ticks that this one run stands for (downtime, a late turn).
            logger.warning(
                "periodic name=%s event=ticks-collapsed skipped=%s tick=%s next=%s worker=%s",
                row["name"], skipped, tick.isoformat(), upcoming.isoformat(), self.worker,
            )  # fmt: skip
        return 1


def _ticks_between(sched: BaseSchedule, tick: datetime, upcoming: datetime) -> int | str:
    """How many ticks of `sched` fall strictly between `tick` and `upcoming` (capped)."""
    if isinstance(sched, schedule):
        return max(0, round((upcoming - tick).total_seconds() / sched.seconds) - 1)
    count, at = 0, sched.next_after(tick)
    while at < upcoming:
        count += 1
        if count >= 1000:
            return "1000+"
        at = sched.next_after(at)
    return count


def run_now(entry: Any, using: str | None = None) -> str:
    """Send `entry` (a ``PeriodicTask``) now, outside its schedule; return the task id."""
    from ..models import PeriodicTask

    using = using or conf.get("DATABASE")
    options = dict(entry.options or {})
    headers = {**(options.pop("headers", None) or {}), "periodic_task_name": entry.name}
    message = build_message(
        entry.task,
        tuple(entry.args or ()),
        dict(entry.kwargs or {}),
        call="a periodic entry",
        **{**options, "headers": headers},
    )
    with transaction.atomic(using=using):
        PeriodicTask.objects.using(using).filter(pk=entry.pk).update(
            last_run_at=Now(), last_task_id=message.id, total_run_count=F("total_run_count") + 1
        )
        send([message], using=using, on_commit=False)
    return message.id
