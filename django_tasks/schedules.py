"""
Periodic schedules with Celery's names and meaning: ``crontab``, ``schedule``, ``solar``.

A schedule answers one question, ``next_after(moment)``: the first run strictly after an
aware `moment`. Crontabs are read on the site's wall clock (``TIMEZONE`` /
``CELERY_TIMEZONE``, else Django's ``TIME_ZONE``), with two rules for DST changes: a
wall-clock time that occurs twice (clocks go back) runs once, at its first occurrence; one
that does not exist (clocks go forward) runs at the first valid minute after the gap.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured

from . import conf

WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_DAY_NAMES = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")  # fmt: skip
#: How far ahead ``next_after`` looks before calling a crontab impossible (Feb 30th...).
_HORIZON_DAYS = 366 * 29


def site_timezone() -> ZoneInfo:
    """The time zone crontabs are read in: TIMEZONE (CELERY_TIMEZONE), else TIME_ZONE."""
    from django.conf import settings

    name = conf.get("TIMEZONE") or getattr(settings, "TIME_ZONE", None) or "UTC"
    return ZoneInfo(name)


class ParseException(ValueError):
    """A crontab field that cannot be read (Celery's ``crontab_parser.ParseException``)."""


def _weekday(name: str) -> int:
    """Celery's weekday names: ``"mon"`` or ``"monday"`` (any case) -> 1; Sunday is 0."""
    key = name.lower()
    for text, number in WEEKDAYS.items():
        if key in (text, _DAY_NAMES[number].lower().removesuffix("s")):
            return number
    raise ParseException(f"Invalid weekday literal {name!r}.")


class crontab_parser:  # noqa: N801 - Celery's name
    """Expand one crontab field (``"*/15"``, ``"1,13,30-45,50-59/2"``, ``"mon-fri"``)."""

    _range = re.compile(r"^(\w+?)-(\w+)$")
    _range_steps = re.compile(r"^(\w+?)-(\w+)/(\w+)?$")
    _star_steps = re.compile(r"^\*/(\w+)?$")

    def __init__(self, max_: int = 60, min_: int = 0) -> None:
        self.max_, self.min_ = max_, min_

    def parse(self, spec: str) -> set[int]:
        acc: set[int] = set()
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise ParseException(f"empty part in {spec!r}")
            acc |= set(self._part(part))
        return acc

    def _part(self, part: str) -> list[int]:
        if part == "*":
            return self._star()
        m = self._range_steps.match(part)
        if m:
            return self._expand(m.group(1), m.group(2))[:: self._step(m.group(3), part)]
        m = self._range.match(part)
        if m:
            return self._expand(m.group(1), m.group(2))
        m = self._star_steps.match(part)
        if m:
            return self._star()[:: self._step(m.group(1), part)]
        if "/" in part:  # "3/15": from 3 to the end, every 15 (as cron reads it)
            start, _, step = part.partition("/")
            return self._expand(start, str(self.max_ + self.min_ - 1))[:: self._step(step, part)]
        return [self._number(part)]

    def _step(self, step: str | None, part: str) -> int:
        if not step or not step.isdigit() or int(step) == 0:
            raise ParseException(f"empty or bad step in {part!r}")
        return int(step)

    def _star(self) -> list[int]:
        return list(range(self.min_, self.max_ + self.min_))

    def _expand(self, fr_text: str, to_text: str) -> list[int]:
        fr, to = self._number(fr_text), self._number(to_text)
        if to < fr:  # wraps around, as Celery's: "fri-mon", "22-2"
            return list(range(fr, self.min_ + self.max_)) + list(range(self.min_, to + 1))
        return list(range(fr, to + 1))

    def _number(self, s: str) -> int:
        if s.startswith("-"):
            raise ParseException("negative numbers not supported")
        i = int(s) if s.isdigit() else _weekday(s)
        top = self.min_ + self.max_ - 1
        if i > top:
            raise ValueError(f"Invalid end range: {i} > {top}.")
        if i < self.min_:
            raise ValueError(f"Invalid beginning range: {i} < {self.min_}.")
        return i


def _expand(value: Any, field: str, max_: int, min_: int = 0) -> set[int]:
    if isinstance(value, bool):
        raise TypeError(f"crontab {field}= must be an int, a string or a set, not {value!r}.")
    if isinstance(value, numbers.Integral):
        result = {int(value)}
    elif isinstance(value, str):
        try:
            result = crontab_parser(max_, min_).parse(value)
        except ValueError as exc:
            raise ValueError(f"crontab {field}={value!r} is not valid: {exc}") from None
    elif isinstance(value, Iterable):
        result = set(value)
    else:
        raise TypeError(f"crontab {field}= must be an int, a string or a set, not {value!r}.")
    for n in result:
        if not isinstance(n, numbers.Integral) or n >= max_ + min_ or n < min_:
            raise ValueError(
                f"crontab {field}={value!r} is not valid: {n!r} is not in {min_}-{max_ - 1 + min_}."
            )
    if field == "day_of_week" and 7 in result:  # cron's 7 is Sunday too
        result = (result - {7}) | {0}
    return result


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, numbers.Integral):
        return str(value)
    return ",".join(str(n) for n in sorted(value))


class BaseSchedule:
    """What every schedule answers; subclasses say when they run next."""

    def next_after(self, moment: datetime) -> datetime:  # pragma: no cover - abstract
        raise NotImplementedError

    def next_runs(self, moment: datetime, count: int = 3) -> list[datetime]:
        """The next `count` runs after `moment` (the admin's "next runs")."""
        runs = []
        for _ in range(count):
            moment = self.next_after(moment)
            runs.append(moment)
        return runs

    def human(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class schedule(BaseSchedule):  # noqa: N801 - Celery's name
    """Run every `run_every` (seconds, or a ``timedelta``): ``schedule(run_every=30)``."""

    def __init__(self, run_every: float | timedelta | None = None, relative: bool = False, **kw):
        if isinstance(run_every, timedelta):
            seconds = run_every.total_seconds()
        elif isinstance(run_every, numbers.Real) and not isinstance(run_every, bool):
            seconds = float(run_every)
        else:
            raise TypeError(
                f"schedule(run_every=) must be seconds or a timedelta, not {run_every!r}."
            )
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError(
                f"schedule(run_every=) must be more than 0 seconds, not {run_every!r}."
            )
        self.seconds = seconds
        self.run_every = timedelta(seconds=seconds)

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.run_every

    def next_on_grid(self, tick: datetime, now: datetime) -> datetime:
        """The first tick after `now` on the grid ``tick + k * run_every`` (catch-up: once)."""
        if now < tick:
            return tick
        steps = math.floor((now - tick).total_seconds() / self.seconds) + 1
        return tick + timedelta(seconds=steps * self.seconds)

    def human(self) -> str:
        return humanize_seconds(self.seconds)

    def __repr__(self) -> str:
        return f"<freq: {self.human()}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, schedule):
            return self.seconds == other.seconds
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.seconds)


def humanize_seconds(seconds: float) -> str:
    """``30`` -> "every 30 seconds", ``300`` -> "every 5 minutes", ``1`` -> "every second"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and (seconds / size).is_integer() or unit == "second":
            n = seconds / size
            if n == 1:
                return f"every {unit}"
            text = f"{n:g}"
            return f"every {text} {unit}s"
    return f"every {seconds:g} seconds"  # pragma: no cover


class crontab(BaseSchedule):  # noqa: N801 - Celery's name
    """
    Run when the wall clock matches every field, as Celery's ``crontab`` does.

    ``crontab(minute="*/15")``, ``crontab(hour=7, minute=30, day_of_week="mon")``,
    ``crontab(0, 0, day_of_month="1,15")``. Fields take ints, sets/lists of ints, or cron
    strings (``"*/15"``, ``"0-5"``, ``"mon-fri"``, ``"1,15"``). As in Celery, a day must match
    both ``day_of_week`` and ``day_of_month`` (and ``month_of_year``): Sunday is 0 (or 7).
    """

    def __init__(
        self,
        minute: Any = "*",
        hour: Any = "*",
        day_of_week: Any = "*",
        day_of_month: Any = "*",
        month_of_year: Any = "*",
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - {"nowfun", "app", "tz"}
        if unknown:
            raise TypeError(f"crontab() got unknown argument {', '.join(sorted(unknown))}.")
        self.minute = _expand(minute, "minute", 60)
        self.hour = _expand(hour, "hour", 24)
        self.day_of_week = _expand(day_of_week, "day_of_week", 8 if _has_seven(day_of_week) else 7)
        self.day_of_month = _expand(day_of_month, "day_of_month", 31, 1)
        self.month_of_year = _expand(month_of_year, "month_of_year", 12, 1)
        self._orig = tuple(
            _field_text(v) for v in (minute, hour, day_of_week, day_of_month, month_of_year)
        )
        self._minutes, self._hours = sorted(self.minute), sorted(self.hour)
        self.tz: ZoneInfo | None = ZoneInfo(kwargs["tz"]) if kwargs.get("tz") else None

    @classmethod
    def from_string(cls, text: str) -> crontab:
        """``crontab.from_string("*/15 * * * *")``: cron's order (minute hour dom month dow)."""
        parts = str(text).split()
        if len(parts) != 5:
            raise ValueError(
                f"A crontab string has 5 fields (minute hour day_of_month month_of_year "
                f"day_of_week), not {text!r}."
            )
        minute, hour, dom, moy, dow = parts
        return cls(minute, hour, dow, dom, moy)

    def to_string(self) -> str:
        """The cron line of this crontab: minute hour day_of_month month_of_year day_of_week."""
        minute, hour, dow, dom, moy = self._orig
        return f"{minute} {hour} {dom} {moy} {dow}"

    # -- when ---------------------------------------------------------------------------------

    def _day_matches(self, day: date) -> bool:
        return (
            day.month in self.month_of_year
            and day.day in self.day_of_month
            and day.isoweekday() % 7 in self.day_of_week
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first run strictly after the aware `moment`, on the site's wall clock."""
        tz = self.tz or site_timezone()
        local = moment.astimezone(tz)
        start = local.replace(tzinfo=None, second=0, microsecond=0)
        day = start.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in self._hours:
                    for minute in self._minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute)
                        if wall < start:
                            continue
                        when = _resolve(wall, tz)
                        if when > moment:
                            return when.astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError(f"{self!r} never runs (no matching day in {_HORIZON_DAYS} days).")

    # -- words ----------------------------------------------------------------------------------

    def human(self) -> str:
        minute, hour, dow, dom, moy = self._orig
        if len(self.minute) == 1 and len(self.hour) == 1:
            when = f"at {self._hours[0]:02d}:{self._minutes[0]:02d}"
        elif len(self.minute) == 60 and len(self.hour) == 24:
            when = "every minute"
        elif len(self.hour) == 24:
            step = re.fullmatch(r"\*/(\d+)", minute)
            when = (
                f"every {step.group(1)} minutes"
                if step
                else f"at minute {','.join(map(str, self._minutes))} of every hour"
            )
        else:
            minutes = "every minute" if len(self.minute) == 60 else f"at minute {minute}"
            when = f"{minutes} of hour {hour}"
        parts = [when]
        if len(self.day_of_week) < 7:
            days = sorted(self.day_of_week)
            if days == [1, 2, 3, 4, 5]:
                parts.append("on weekdays")
            else:
                parts.append("on " + ", ".join(_DAY_NAMES[d] for d in days))
        if len(self.day_of_month) < 31:
            parts.append(f"on day {','.join(map(str, sorted(self.day_of_month)))} of the month")
        if len(self.month_of_year) < 12:
            parts.append("in " + ", ".join(_MONTH_NAMES[m - 1] for m in sorted(self.month_of_year)))
        return " ".join(parts)

    def __repr__(self) -> str:
        minute, hour, dow, dom, moy = self._orig
        return f"<crontab: {minute} {hour} {dow} {dom} {moy} (m/h/dow/dM/MY)>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, crontab):
            return (
                self.minute,
                self.hour,
                self.day_of_week,
                self.day_of_month,
                self.month_of_year,
            ) == (
                other.minute,
                other.hour,
                other.day_of_week,
                other.day_of_month,
                other.month_of_year,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._orig)


def _has_seven(value: Any) -> bool:
    """Does a day_of_week field name 7 (cron's second Sunday)?"""
    if isinstance(value, numbers.Integral):
        return value == 7
    if isinstance(value, str):
        return bool(re.search(r"(?<![\d/])7(?!\d)", value))
    if isinstance(value, Iterable):
        return 7 in set(value)
    return False


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """
    The instant of a naive wall-clock time in `tz`.

    Twice (clocks went back): its first occurrence. Never (clocks went forward): the first
    minute after the gap.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return first
    probe = wall
    for _ in range(24 * 60):  # walk out of the gap, a minute at a time
        probe += timedelta(minutes=1)
        aware = probe.replace(tzinfo=tz)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == probe:
            return aware
    return first  # pragma: no cover - no zone has a day-long gap


class solar(BaseSchedule):  # noqa: N801 - Celery's name
    """Celery's sunrise/sunset schedule: not supported here (raises, saying what to use)."""

    def __init__(self, event: str, lat: float, lon: float, **kwargs: Any) -> None:
        raise ImproperlyConfigured(
            f"solar({event!r}, {lat!r}, {lon!r}) schedules are not supported by django_tasks; "
            "use a crontab at the local time you need instead."
        )


def maybe_schedule(value: Any) -> BaseSchedule:
    """A schedule from seconds, a ``timedelta`` or a schedule; TypeError otherwise."""
    if isinstance(value, BaseSchedule):
        return value
    if isinstance(value, timedelta) or (
        isinstance(value, numbers.Real) and not isinstance(value, bool)
    ):
        return schedule(run_every=value)
    raise TypeError(
        f"a schedule must be seconds, a timedelta, schedule(run_every=...) or crontab(...), "
        f"not {value!r}."
    )


__all__ = [
    "BaseSchedule",
    "ParseException",
    "crontab",
    "crontab_parser",
    "humanize_seconds",
    "maybe_schedule",
    "schedule",
    "site_timezone",
    "solar",
]
