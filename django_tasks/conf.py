"""The ``DJANGO_TASKS`` setting: defaults, validation and cached access."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .hints import closest
from .ratelimit import parse_rate

#: Every key of ``DJANGO_TASKS`` with its default. Keys are Celery's setting names without
#: the ``CELERY_``/``CELERY_TASK_`` prefix where Celery has one.
DEFAULTS: dict[str, Any] = {
    "ALWAYS_EAGER": False,
    "EAGER_PROPAGATES": False,
    "DATABASE": "default",
    "ACKS_LATE": False,
    "TRACK_STARTED": False,
    "IGNORE_RESULT": False,
    "STORE_ERRORS_EVEN_IF_IGNORED": False,
    "DEFAULT_QUEUE": "default",
    "DEFAULT_PRIORITY": 0,
    "DEFAULT_RATE_LIMIT": None,
    "DISABLE_RATE_LIMITS": False,
    "DEFAULT_MAX_RETRIES": 3,
    "DEFAULT_RETRY_DELAY": 180,
    "TIME_LIMIT": None,
    "SOFT_TIME_LIMIT": None,
    "RESULT_EXPIRES": 86400,
    "SEND_TASK_ERROR_EMAILS": False,
    "REDIRECT_STDOUTS": True,
    "REDIRECT_STDOUTS_LEVEL": "WARNING",
    "IMPORTS": [],
    "TYPING": True,
    "SERIALIZER": "json",
    "POLL_INTERVAL": 1.0,
    "HEARTBEAT_INTERVAL": 5.0,
    "HEARTBEAT_TIMEOUT": 30.0,
    "CLAIM_BATCH_SIZE": 100,
    "WORKER_CONN_MAX_AGE": 600,
    "MAX_TASKS_PER_CHILD": None,
    "MAX_MEMORY_PER_CHILD": None,
}

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the settings, as a system check and an error share it."""

    id: str
    message: str


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _seconds_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0)


def _positive_seconds(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)


def _rate(v: Any) -> bool:
    if v is None:
        return True
    try:
        parse_rate(v)
    except (TypeError, ValueError):
        return False
    return True


#: key -> (is the value valid?, what it must be)
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "ALWAYS_EAGER": (_bool, "True or False"),
    "EAGER_PROPAGATES": (_bool, "True or False"),
    "DATABASE": (
        lambda v: isinstance(v, str) and v in django_settings.DATABASES,
        "the alias of a database in DATABASES",
    ),
    "ACKS_LATE": (_bool, "True or False"),
    "TRACK_STARTED": (_bool, "True or False"),
    "IGNORE_RESULT": (_bool, "True or False"),
    "STORE_ERRORS_EVEN_IF_IGNORED": (_bool, "True or False"),
    "DEFAULT_QUEUE": (
        lambda v: isinstance(v, str) and 0 < len(v) <= 100,
        "a queue name (1 to 100 characters)",
    ),
    "DEFAULT_PRIORITY": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9,
        "an integer from 0 to 9",
    ),
    "DEFAULT_RATE_LIMIT": (_rate, "None or a rate such as '10/s', '100/m', '1000/h' or an int"),
    "DISABLE_RATE_LIMITS": (_bool, "True or False"),
    "DEFAULT_MAX_RETRIES": (
        lambda v: v is None or (isinstance(v, int) and v >= 0),
        "a non-negative integer or None",
    ),
    "DEFAULT_RETRY_DELAY": (lambda v: isinstance(v, int | float) and v >= 0, "seconds (>= 0)"),
    "TIME_LIMIT": (_seconds_or_none, "seconds or None"),
    "SOFT_TIME_LIMIT": (_seconds_or_none, "seconds or None"),
    "RESULT_EXPIRES": (_seconds_or_none, "seconds or None"),
    "SEND_TASK_ERROR_EMAILS": (_bool, "True or False"),
    "REDIRECT_STDOUTS": (_bool, "True or False"),
    "REDIRECT_STDOUTS_LEVEL": (lambda v: v in _LEVELS, "one of " + ", ".join(_LEVELS)),
    "IMPORTS": (
        lambda v: isinstance(v, list | tuple) and all(isinstance(m, str) for m in v),
        "a list of module paths",
    ),
    "TYPING": (_bool, "True or False"),
    "SERIALIZER": (lambda v: v == "json", "'json' (the only serializer)"),
    "POLL_INTERVAL": (_positive_seconds, "seconds (> 0)"),
    "HEARTBEAT_INTERVAL": (_positive_seconds, "seconds (> 0)"),
    "HEARTBEAT_TIMEOUT": (_positive_seconds, "seconds (> 0)"),
    "CLAIM_BATCH_SIZE": (lambda v: _int(v) and 1 <= v <= 1000, "an integer from 1 to 1000"),
    "WORKER_CONN_MAX_AGE": (_seconds_or_none, "seconds or None"),
    "MAX_TASKS_PER_CHILD": (_positive_int_or_none, "a positive integer or None"),
    "MAX_MEMORY_PER_CHILD": (_positive_int_or_none, "KiB (a positive integer) or None"),
}


def problems() -> list[Problem]:
    """List everything wrong with ``settings.DJANGO_TASKS``, in key order."""
    raw = getattr(django_settings, "DJANGO_TASKS", {})
    if not isinstance(raw, dict):
        return [Problem("django_tasks.E001", f"DJANGO_TASKS must be a dict, not {raw!r}.")]
    found = []
    for key in raw:
        if key not in DEFAULTS:
            close = closest(key, DEFAULTS)
            hint = f" Did you mean {close!r}?" if close else ""
            found.append(
                Problem("django_tasks.E002", f"DJANGO_TASKS[{key!r}] is not a setting.{hint}")
            )
    for key, (valid, what) in _RULES.items():
        if key in raw and not valid(raw[key]):
            found.append(
                Problem(
                    "django_tasks.E003", f"DJANGO_TASKS[{key!r}] must be {what}, not {raw[key]!r}."
                )
            )
    merged = {**DEFAULTS, **raw}
    limits = limits_problem(
        merged["SOFT_TIME_LIMIT"],
        merged["TIME_LIMIT"],
        lambda key: f"DJANGO_TASKS[{key.upper()!r}]",
    )
    if limits:
        found.append(Problem("django_tasks.E004", limits))
    if (
        _positive_seconds(merged["HEARTBEAT_INTERVAL"])
        and _positive_seconds(merged["HEARTBEAT_TIMEOUT"])
        and merged["HEARTBEAT_INTERVAL"] * 2 >= merged["HEARTBEAT_TIMEOUT"]
    ):
        # Consumers start tasks only while the last heartbeat is younger than half the
        # timeout (their lease), so beats must come more often than that.
        found.append(
            Problem(
                "django_tasks.E005",
                f"DJANGO_TASKS['HEARTBEAT_INTERVAL'] ({merged['HEARTBEAT_INTERVAL']!r}) must be "
                f"less than half of DJANGO_TASKS['HEARTBEAT_TIMEOUT'] "
                f"({merged['HEARTBEAT_TIMEOUT']!r}).",
            )
        )
    return found


def limits_problem(soft: Any, hard: Any, where: Callable[[str], str]) -> str | None:
    """
    The problem with a soft/hard time-limit pair, or None: soft may not exceed hard.

    The one rule for settings, task options, backend OPTIONS and ``runtasks`` flags. Equal
    limits are allowed, as in Celery. `where(key)` names "soft_time_limit" for the message.
    """
    if _positive_seconds(soft) and _positive_seconds(hard) and soft > hard:
        soft_name, hard_name = where("soft_time_limit"), where("time_limit")
        return f"{soft_name} ({soft!r}) must not exceed {hard_name} ({hard!r})."
    return None


_cache: dict[str, Any] | None = None


def get(key: str) -> Any:
    """Return one validated setting; the first problem raises ``ImproperlyConfigured``."""
    global _cache
    if _cache is None:
        found = problems()
        if found:
            raise ImproperlyConfigured(found[0].message)
        _cache = {**DEFAULTS, **getattr(django_settings, "DJANGO_TASKS", {})}
    return _cache[key]


def check() -> None:
    """Raise ``ImproperlyConfigured`` with the first problem, if any (startup)."""
    get("DATABASE")


def _drop_cache(*, setting: str, **kwargs: Any) -> None:
    global _cache
    if setting in ("DJANGO_TASKS", "DATABASES"):
        _cache = None
        for hook in _on_change:
            hook()


#: Callables run when DJANGO_TASKS changes (caches that depend on it register here).
_on_change: list[Callable[[], None]] = []


def on_change(callback: Callable[[], None]) -> None:
    """Run `callback` whenever ``DJANGO_TASKS`` (or ``DATABASES``) changes: drop a cache."""
    _on_change.append(callback)


setting_changed.connect(_drop_cache)


#: Celery setting names whose key here is not the name without its prefix.
_CELERY_ALIASES = {
    "EAGER_PROPAGATES_EXCEPTIONS": "EAGER_PROPAGATES",
    "TASK_EAGER_PROPAGATES": "EAGER_PROPAGATES",
    "TASK_SERIALIZER": "SERIALIZER",
    "TASK_RESULT_EXPIRES": "RESULT_EXPIRES",
}


def setting_key(name: str) -> str:
    """
    Return the ``DJANGO_TASKS`` key for `name`: ours, or Celery's 3.x or 4.x setting name.

    ``CELERY_ALWAYS_EAGER``, ``task_always_eager`` -> ``ALWAYS_EAGER``;
    ``CELERYD_TASK_TIME_LIMIT`` -> ``TIME_LIMIT``; ``worker_redirect_stdouts_level`` ->
    ``REDIRECT_STDOUTS_LEVEL``. Raises ``KeyError`` naming `name` when none matches.
    """
    key = str(name).upper()
    for prefix in ("CELERYD_", "CELERY_", ""):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        for candidate in (
            rest,
            _CELERY_ALIASES.get(rest, ""),
            rest.removeprefix("TASK_"),
            rest.removeprefix("WORKER_"),
        ):
            if candidate in DEFAULTS:
                return candidate
    raise KeyError(f"{name!r} is not a DJANGO_TASKS setting (nor a Celery name for one).")


class SettingsView(Mapping):
    """``app.conf``: the validated ``DJANGO_TASKS``, read by its keys or Celery's names."""

    def __getitem__(self, name: str) -> Any:
        return get(setting_key(name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __iter__(self) -> Iterator[str]:
        return iter(DEFAULTS)

    def __len__(self) -> int:
        return len(DEFAULTS)

    def __repr__(self) -> str:
        return f"<DJANGO_TASKS {dict(self)!r}>"


settings_view = SettingsView()
