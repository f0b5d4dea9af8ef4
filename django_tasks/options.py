"""
The option vocabulary: every task and call option, its one validation rule, ``TaskOptions``.

Task options (decorator keywords, class attributes, a ``django.tasks`` backend's OPTIONS),
call options (``apply_async``, ``send_task``, signatures) and the ``runtasks`` limits are all
checked here, by one table, so each rule and its message exist once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from . import conf
from .conf import limits_problem
from .hints import closest, distance, unknown_names
from .ratelimit import parse_rate
from .serialization import check_serializer

#: Options a task accepts (decorator keyword or class attribute), Celery's names.
TASK_OPTIONS = frozenset(
    {
        "name",
        "bind",
        "base",
        "max_retries",
        "default_retry_delay",
        "rate_limit",
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "store_errors_even_if_ignored",
        "send_error_emails",
        "acks_late",
        "track_started",
        "throws",
        "queue",
        "priority",
        "expires",
        "serializer",
        "autoretry_for",
        "retry_backoff",
        "retry_backoff_max",
        "retry_jitter",
        "typing",
        "retry_kwargs",
        "shared",
        "abstract",
        "trail",
        "reject_on_worker_lost",
        "on_success",
        "on_failure",
        "on_retry",
        "after_return",
    }
)

#: Task handlers a decorator keyword may set (a function taking the task as ``self``).
HANDLERS = ("on_success", "on_failure", "on_retry", "after_return")

#: Options ``apply_async`` accepts. ``routing_key``, ``exchange`` and ``shadow`` are
#: accepted for Celery code and ignored: the queue is the only route.
CALL_OPTIONS = frozenset(
    {
        "args",
        "kwargs",
        "countdown",
        "eta",
        "expires",
        "queue",
        "priority",
        "task_id",
        "link",
        "link_error",
        "on_commit",
        "headers",
        "time_limit",
        "soft_time_limit",
        "acks_late",
        "retries",
        "max_retries",
        "parent_id",
        "root_id",
        "group_id",
        "chain",
        "chord",
        "using",
        "shadow",
        "serializer",
        "routing_key",
        "exchange",
        "ignore_result",
        # Celery's publish retry: a database write is not retried, it raises at once.
        "retry",
        "retry_policy",
        # Children are found by their parent_id whatever this says.
        "add_to_parent",
    }
)

#: Options ``retry(**options)`` may change for the next attempt.
RETRY_OPTIONS = frozenset({"queue", "priority"})

#: Keys ``retry_kwargs`` may hold (the keywords of ``Task.retry``).
RETRY_KWARGS = frozenset({"max_retries", "countdown", "eta", "queue", "priority"})

#: The longest queue name a row holds (``TaskMessage.queue``).
QUEUE_MAX_LENGTH = 100


def is_number(value: Any) -> bool:
    """Is `value` an int or a float (not a bool)?"""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_rate(value: Any) -> bool:
    try:
        parse_rate(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_exceptions(value: Any) -> bool:
    return isinstance(value, tuple | list) and all(
        isinstance(e, type) and issubclass(e, BaseException) for e in value
    )


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_queue(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= QUEUE_MAX_LENGTH


#: option -> (is the value valid?, what it must be). The one rule for each option, whoever
#: sets it: a decorator, a class attribute, a backend's OPTIONS or a setting.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_retries": (
        lambda v: v is None or (_is_int(v) and v >= 0),
        "an integer >= 0 or None (retry forever)",
    ),
    "default_retry_delay": (lambda v: is_number(v) and v >= 0, "seconds >= 0"),
    "rate_limit": (
        _is_rate,
        "a rate like '10/s', '100/m', '1000/h' or a number of tasks per second",
    ),
    "time_limit": (lambda v: v is None or (is_number(v) and v > 0), "seconds > 0"),
    "soft_time_limit": (lambda v: v is None or (is_number(v) and v > 0), "seconds > 0"),
    "ignore_result": (_is_bool, "True or False"),
    "store_errors_even_if_ignored": (_is_bool, "True or False"),
    "send_error_emails": (_is_bool, "True or False"),
    "acks_late": (_is_bool, "True or False"),
    "track_started": (_is_bool, "True or False"),
    "retry_jitter": (_is_bool, "True or False"),
    "typing": (_is_bool, "True or False"),
    "throws": (_is_exceptions, "a tuple of exception classes"),
    "autoretry_for": (_is_exceptions, "a tuple of exception classes"),
    "queue": (_is_queue, f"a queue name of 1 to {QUEUE_MAX_LENGTH} characters"),
    "priority": (lambda v: _is_int(v) and 0 <= v <= 9, "an integer from 0 to 9"),
    "expires": (
        lambda v: v is None or isinstance(v, datetime) or (is_number(v) and v >= 0),
        "seconds >= 0, an aware datetime or None",
    ),
    "retry_kwargs": (
        lambda v: isinstance(v, dict) and not set(v) - RETRY_KWARGS,
        "a dict with keys among " + ", ".join(sorted(RETRY_KWARGS)),
    ),
    "retry_backoff": (
        lambda v: isinstance(v, bool) or (is_number(v) and v >= 0),
        "True, False or a factor in seconds",
    ),
    "retry_backoff_max": (lambda v: is_number(v) and v > 0, "seconds > 0"),
    "trail": (_is_bool, "True or False"),
    "reject_on_worker_lost": (lambda v: v is None or isinstance(v, bool), "True, False or None"),
}


def problems(values: Mapping[str, Any], where: Callable[[str], str]) -> list[str]:
    """Say what is wrong with `values` (options by name), each problem named by `where(key)`."""
    found = []
    for key, value in values.items():
        valid, what = RULES[key]
        if not valid(value):
            found.append(f"{where(key)} must be {what}, not {value!r}.")
    if not found:
        limits = limits_problem(
            values.get("soft_time_limit"), values.get("time_limit"), _pair(where)
        )
        if limits:
            found.append(limits)
    return found


def _pair(where: Callable[[str], str]) -> Callable[[str], str]:
    """Name the soft limit as `where` does, the hard one by its bare option name."""
    return lambda key: where(key) if key == "soft_time_limit" else key


def check_task_option_names(name: str, given: set[str]) -> None:
    """
    Raise ``TypeError`` for a keyword that looks like a misspelt task option.

    Any other keyword becomes an attribute of the task, as Celery's guide says; one a small
    edit away from an option (``max_retry``, ``acks_lat``) is a typo, not an attribute.
    """
    typos = []
    for key in sorted(set(given) - TASK_OPTIONS):
        close = closest(key, TASK_OPTIONS)
        if close is not None and distance(key, close) <= (2 if len(key) >= 8 else 1):
            typos.append(f"{key!r} (did you mean {close!r}?)")
    if typos:
        raise TypeError(f"Task {name!r}: unknown option {', '.join(typos)}.")


def check_handlers(name: str, task: Any) -> None:
    """Raise ``ImproperlyConfigured`` when a handler set by keyword is not callable."""
    for key in HANDLERS:
        if not callable(getattr(task, key, None)):
            raise ImproperlyConfigured(
                f"Task {name!r} option {key!r} must be a function, not {getattr(task, key)!r}."
            )


def check_call_options(name: str, call: str, given: Mapping[str, Any], allowed) -> None:
    """Raise ``TypeError`` for an option `call` (e.g. "apply_async()") does not take."""
    hints = unknown_names(given, allowed)
    if hints:
        raise TypeError(f"Task {name!r}: {call} got unknown option {hints}.")


class FromSettings:
    """
    A task option that falls back to ``DJANGO_TASKS[key]``.

    Reading the option on a task gives the setting's current value until a decorator
    keyword or a subclass attribute sets it (``None`` included: ``max_retries=None`` is
    "retry forever", not "use the setting").
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return conf.get(self.key)

    def __repr__(self) -> str:
        return f"<DJANGO_TASKS[{self.key!r}]>"


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """A task's options resolved: keyword > class attribute > DJANGO_TASKS > default."""

    max_retries: int | None
    default_retry_delay: float
    #: Tasks per second (None: no limit).
    rate_limit: float | None
    time_limit: float | None
    soft_time_limit: float | None
    ignore_result: bool
    store_errors_even_if_ignored: bool
    send_error_emails: bool
    acks_late: bool
    track_started: bool
    throws: tuple[type[BaseException], ...]
    queue: str
    priority: int
    expires: float | datetime | None
    autoretry_for: tuple[type[BaseException], ...]
    retry_kwargs: dict[str, Any]
    retry_backoff: int | bool
    retry_backoff_max: float
    retry_jitter: bool
    typing: bool


_FLAGS = (
    "ignore_result",
    "store_errors_even_if_ignored",
    "send_error_emails",
    "acks_late",
    "track_started",
    "retry_jitter",
    "typing",
)


def resolve(task: Any) -> TaskOptions:
    """Validate `task`'s options (its attributes; settings read now) and resolve them."""
    name = task.name
    values = {key: getattr(task, key) for key in RULES}
    for key in _FLAGS:
        if values[key] is None:
            values[key] = False
    found = problems(values, lambda key: f"Task {name!r} option {key!r}")
    if found:
        raise ImproperlyConfigured(found[0])
    check_handlers(name, task)
    check_serializer(f"Task {name!r} option 'serializer'", task.serializer)
    rate = None if conf.get("DISABLE_RATE_LIMITS") else parse_rate(values["rate_limit"])
    return TaskOptions(
        max_retries=values["max_retries"],
        default_retry_delay=values["default_retry_delay"],
        rate_limit=rate,
        time_limit=values["time_limit"],
        soft_time_limit=values["soft_time_limit"],
        throws=tuple(values["throws"]),
        queue=values["queue"],
        priority=values["priority"],
        expires=values["expires"],
        autoretry_for=tuple(values["autoretry_for"]),
        retry_kwargs=dict(values["retry_kwargs"]),
        retry_backoff=values["retry_backoff"],
        retry_backoff_max=values["retry_backoff_max"],
        **{key: values[key] for key in _FLAGS},
    )


# -- call options: checked at the call, named by the task ---------------------------------------


def check_call_value(name: str, key: str, value: Any) -> None:
    """Raise ``ValueError`` when call option `key` of task `name` is bad (the one rule)."""
    valid, what = RULES[key]
    if not valid(value):
        raise ValueError(f"Task {name!r}: {key} must be {what}, not {value!r}.")


def check_priority(name: str, priority: Any) -> None:
    """Raise ``ValueError`` unless `priority` is an integer from 0 to 9."""
    check_call_value(name, "priority", priority)


def check_queue(name: str, queue: Any) -> None:
    """Raise ``ValueError`` unless `queue` is a queue name."""
    if not _is_queue(queue):
        raise ValueError(
            f"Task {name!r}: queue must be a name of 1 to {QUEUE_MAX_LENGTH} characters, "
            f"not {queue!r}."
        )


def check_call_serializer(name: str, serializer: Any) -> None:
    """Raise ``ImproperlyConfigured`` for a call's serializer other than JSON."""
    check_serializer(f"Task {name!r}: apply_async() option 'serializer'", serializer)


def due_time(name: str, countdown: Any, eta: Any) -> datetime | None:
    """When a call with this `countdown` or `eta` is due (None: now)."""
    if countdown is not None and eta is not None:
        raise ValueError(f"Task {name!r}: give countdown or eta, not both.")
    if countdown is not None:
        if not is_number(countdown):
            raise TypeError(f"Task {name!r}: countdown must be seconds, not {countdown!r}.")
        if countdown < 0:
            raise ValueError(f"Task {name!r}: countdown must not be negative, not {countdown!r}.")
        return timezone.now() + timedelta(seconds=countdown) if countdown else None
    if eta is not None:
        if not isinstance(eta, datetime):
            raise TypeError(f"Task {name!r}: eta must be a datetime, not {eta!r}.")
        if settings.USE_TZ and timezone.is_naive(eta):
            raise ValueError(
                f"Task {name!r}: eta {eta!r} is naive but USE_TZ is on; pass an aware "
                "datetime (django.utils.timezone.now() + timedelta(...))."
            )
        return eta
    return None


def expiry_time(name: str, expires: Any) -> datetime | None:
    """When a call with this `expires` (seconds or a datetime) expires (None: never)."""
    if expires is None:
        return None
    if is_number(expires):
        if expires < 0:
            raise ValueError(f"Task {name!r}: expires must not be negative, not {expires!r}.")
        return timezone.now() + timedelta(seconds=expires)
    if isinstance(expires, datetime):
        if settings.USE_TZ and timezone.is_naive(expires):
            raise ValueError(
                f"Task {name!r}: expires {expires!r} is naive but USE_TZ is on; "
                "pass an aware datetime."
            )
        return expires
    raise TypeError(f"Task {name!r}: expires must be seconds or a datetime, not {expires!r}.")


def check_seconds(name: str, key: str, value: Any) -> None:
    """Raise ``ValueError`` unless call option `key` is seconds > 0."""
    if not is_number(value) or value <= 0:
        raise ValueError(f"Task {name!r}: {key} must be seconds > 0, not {value!r}.")


def check_retries(name: str, retries: Any) -> None:
    if not _is_int(retries) or retries < 0:
        raise ValueError(f"Task {name!r}: retries must be an integer >= 0, not {retries!r}.")
