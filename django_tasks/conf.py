"""The ``DJANGO_TASKS`` setting: defaults, validation and cached access."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
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
    "PREPARED_STATEMENTS": True,
    "LISTEN_DATABASE": None,
    "MAX_TASKS_PER_CHILD": None,
    "MAX_MEMORY_PER_CHILD": None,
    "ROUTES": None,
    "QUEUES": None,
    "TIMEZONE": None,
    #: Periodic entries: name -> {"task", "schedule", "args", "kwargs", "options"} (schedules.py).
    "BEAT_SCHEDULE": {},
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
    "PREPARED_STATEMENTS": (_bool, "True or False"),
    "LISTEN_DATABASE": (
        lambda v: (
            v is None or v is False or (isinstance(v, str) and v in django_settings.DATABASES)
        ),
        "None (listen on DATABASE), False (poll), or the alias of a database in DATABASES",
    ),
    "MAX_TASKS_PER_CHILD": (_positive_int_or_none, "a positive integer or None"),
    "MAX_MEMORY_PER_CHILD": (_positive_int_or_none, "KiB (a positive integer) or None"),
    "ROUTES": (
        lambda v: v is None or isinstance(v, dict | list | tuple | str) or callable(v),
        "None, a dict, a router function, its dotted path, or a list or tuple of those",
    ),
    "QUEUES": (
        lambda v: v is None or _queue_names(v) is not None,
        "None, or queue names (strings, dicts with a 'name', or kombu Queue objects)",
    ),
    "TIMEZONE": (lambda v: v is None or isinstance(v, str), "None or a time zone name"),
    "BEAT_SCHEDULE": (
        lambda v: isinstance(v, dict) and all(isinstance(e, dict) for e in v.values()),
        "a dict of entry name -> {'task': ..., 'schedule': ...}",
    ),
}


def _queue_names(value: Any) -> list[str] | None:
    """The names in a QUEUES value (Celery's ``task_queues``), or None if it is not one."""
    items = list(value) if isinstance(value, dict | list | tuple | set | frozenset) else None
    if items is None:
        return None
    names = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("name")
        elif not isinstance(item, str):
            item = getattr(item, "name", None)  # kombu.Queue, or anything with a .name
        if not isinstance(item, str) or not item:
            return None
        names.append(item)
    return names


def queue_names() -> list[str]:
    """The queue names of QUEUES (``task_queues``), or [] when it is not set."""
    return _queue_names(get("QUEUES") or ()) or []


def problems() -> list[Problem]:
    """List everything wrong with the settings (``DJANGO_TASKS``, then Celery's), in order."""
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
    celery = _celery_settings()
    found.extend(celery.errors)
    merged = {**DEFAULTS, **celery.values, **raw, **_overrides_read().values}
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


def notes() -> list[Problem]:
    """
    The warnings (``W``) and infos (``I``) ``manage.py check`` lists beside the errors.

    Celery settings that are ignored here or not applied, conflicts between ``DJANGO_TASKS``
    and Celery's names, and ``CELERY_*`` settings that nothing reads.
    """
    raw = getattr(django_settings, "DJANGO_TASKS", {})
    raw = raw if isinstance(raw, dict) else {}
    celery, overrides = _celery_settings(), _overrides_read()
    found = [*celery.notes, *overrides.notes]
    for key, value in raw.items():
        for read in (celery, overrides):
            if key in read.values and read.values[key] != value:
                found.append(
                    Problem(
                        "django_tasks.W002",
                        f"DJANGO_TASKS[{key!r}] ({value!r}) and {read.names[key]} "
                        f"({read.values[key]!r}) differ; "
                        + (
                            f"{read.names[key]} wins (app.conf is set in code)"
                            if read is overrides
                            else "DJANGO_TASKS wins"
                        )
                        + ": remove one of them.",
                    )
                )
    if _source is None:
        for name in _django_setting_names():
            if name.startswith("CELERY"):
                found.append(
                    Problem(
                        "django_tasks.W003",
                        f"{name} is set but nothing reads it: call "
                        "app.config_from_object('django.conf:settings', namespace='CELERY') "
                        "(your celery.py), or move it into DJANGO_TASKS.",
                    )
                )
    for name, reason in _ignored_args.items():
        found.append(Problem("django_tasks.I002", f"{name} is ignored: {reason}."))
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
    """
    Return one validated setting; the first problem raises ``ImproperlyConfigured``.

    While ``django.setup()`` imports the apps (task modules read their option defaults
    here), a bad setting reads as its default instead of raising: every ``manage.py``
    command must start so that the system check can list all the problems at once. Nothing
    runs with those defaults: enqueueing and ``runtasks`` raise once the apps are ready.
    """
    global _cache
    if _cache is None:
        found = problems()
        if found and not apps.ready:
            return _lenient().get(key, DEFAULTS.get(key))
        if found:
            raise ImproperlyConfigured(found[0].message)
        _cache = {
            **DEFAULTS,
            **_celery_settings().values,
            **getattr(django_settings, "DJANGO_TASKS", {}),
            **_overrides_read().values,
        }
    return _cache[key]


def _lenient() -> dict[str, Any]:
    """The settings with every unknown or invalid ``DJANGO_TASKS`` key left out (setup only)."""
    raw = getattr(django_settings, "DJANGO_TASKS", {})
    raw = raw if isinstance(raw, dict) else {}
    valid = {k: v for k, v in raw.items() if k in DEFAULTS and (k not in _RULES or _RULES[k][0](v))}
    # Nothing to catch: problems() has read (and cached) the Celery settings already, and a
    # config_from_object module that does not import is one of its problems (E010).
    return {**DEFAULTS, **_celery_settings().values, **valid}


def check() -> None:
    """Raise ``ImproperlyConfigured`` with the first problem, if any (startup)."""
    get("DATABASE")


def changed() -> None:
    """Drop the cached settings and run the ``on_change`` callbacks (a setting changed)."""
    global _cache, _celery_cache
    _cache = None
    _celery_cache = None
    for hook in _on_change:
        hook()


def _drop_cache(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DJANGO_TASKS", "DATABASES") or setting.startswith(("CELERY", "BROKER_")):
        changed()


#: Callables run when DJANGO_TASKS changes (caches that depend on it register here).
_on_change: list[Callable[[], None]] = []


def on_change(callback: Callable[[], None]) -> None:
    """Run `callback` whenever the settings change (DJANGO_TASKS, CELERY_*, app.conf)."""
    _on_change.append(callback)


setting_changed.connect(_drop_cache)


# -- Celery's setting names ---------------------------------------------------------------------

#: Celery's setting names (4.x and later; 3.1's are renamed to these) that set a key here.
CELERY_KEYS: dict[str, str] = {
    "task_always_eager": "ALWAYS_EAGER",
    "task_eager_propagates": "EAGER_PROPAGATES",
    "task_acks_late": "ACKS_LATE",
    "task_track_started": "TRACK_STARTED",
    "task_ignore_result": "IGNORE_RESULT",
    "task_store_errors_even_if_ignored": "STORE_ERRORS_EVEN_IF_IGNORED",
    "task_default_queue": "DEFAULT_QUEUE",
    "task_default_priority": "DEFAULT_PRIORITY",
    "task_default_rate_limit": "DEFAULT_RATE_LIMIT",
    "worker_disable_rate_limits": "DISABLE_RATE_LIMITS",
    "task_time_limit": "TIME_LIMIT",
    "task_soft_time_limit": "SOFT_TIME_LIMIT",
    "result_expires": "RESULT_EXPIRES",
    "task_send_error_emails": "SEND_TASK_ERROR_EMAILS",
    "worker_redirect_stdouts": "REDIRECT_STDOUTS",
    "worker_redirect_stdouts_level": "REDIRECT_STDOUTS_LEVEL",
    "imports": "IMPORTS",
    "include": "IMPORTS",
    "task_serializer": "SERIALIZER",
    "worker_max_tasks_per_child": "MAX_TASKS_PER_CHILD",
    "worker_max_memory_per_child": "MAX_MEMORY_PER_CHILD",
    "task_routes": "ROUTES",
    "task_queues": "QUEUES",
    "timezone": "TIMEZONE",
    "enable_utc": "TIMEZONE",
    "beat_schedule": "BEAT_SCHEDULE",
}

#: Celery settings that mean something but are not applied here: listed as warnings.
CELERY_NOT_APPLIED: dict[str, str] = {
    "beat_scheduler": "entries live in the database (the admin's periodic tasks)",
    "task_annotations": "set the options on the tasks (decorator keywords or a base class)",
    "task_reject_on_worker_lost": "a task lost with its worker is recovered (acks_late) or failed",
    "task_acks_on_failure_or_timeout": "a failed task is always acknowledged",
    "task_inherit_parent_priority": "give the priority on the call",
    "task_store_eager_result": "eager results are never stored",
    "task_create_missing_queues": "queues need no declaration: every queue name works",
    "result_extended": "the task row always keeps the name, arguments and worker",
    "worker_concurrency": "use runtasks --concurrency",
    "worker_pool": "use runtasks --pool",
    "worker_hijack_root_logger": "the worker uses Django's LOGGING",
}

#: Prefixes of the Celery settings that have no meaning here, with the reason.
_CELERY_IGNORED = (
    ("broker_", "the database is the broker"),
    ("result_serializer", "results are JSON"),
    ("result_", "results are rows of the task table"),
    ("database_", "results are rows of the task table"),
    ("cache_", "results are rows of the task table"),
    ("redis_", "results are rows of the task table"),
    ("mongodb_", "results are rows of the task table"),
    ("accept_content", "messages are JSON"),
    ("result_accept_content", "messages are JSON"),
    ("task_compression", "messages are JSON rows"),
    ("event_", "workers send no events; the admin shows the tasks"),
    ("control_", "there is no remote control; the admin revokes and requeues"),
    ("worker_prefetch_multiplier", "a worker claims as many tasks as it has free slots"),
    ("worker_", "the runtasks worker does not have it"),
    ("task_default_", "there are no exchanges or routing keys: the queue is the only route"),
    ("task_", "the message table does not need it"),
    ("beat_", "every runtasks worker schedules periodic tasks; there is no beat process"),
    ("security_", "messages are rows in your database, not signed"),
    ("", "django_tasks does not use it"),
)

_NAMES = """
    accept_content result_accept_content enable_utc imports include timezone
    beat_max_loop_interval beat_schedule beat_scheduler beat_schedule_filename beat_sync_every
    beat_cron_starting_deadline
    broker_url broker_read_url broker_write_url broker_transport broker_transport_options
    broker_connection_timeout broker_connection_retry broker_connection_retry_on_startup
    broker_connection_max_retries broker_channel_error_retry broker_failover_strategy
    broker_heartbeat broker_heartbeat_checkrate broker_login_method
    broker_native_delayed_delivery_queue_type broker_pool_limit broker_use_ssl broker_host
    broker_port broker_user broker_password broker_vhost
    cache_backend cache_backend_options
    control_queue_ttl control_queue_expires control_exchange
    event_queue_expires event_queue_ttl event_queue_prefix event_serializer event_exchange
    redis_backend_use_ssl redis_db redis_host redis_max_connections redis_username
    redis_password redis_port redis_socket_timeout redis_socket_connect_timeout
    redis_retry_on_timeout redis_socket_keepalive redis_backend_health_check_interval
    mongodb_backend_settings
    result_backend result_cache_max result_compression result_exchange result_exchange_type
    result_expires result_persistent result_extended result_serializer
    result_backend_transport_options result_chord_retry_interval result_chord_join_timeout
    result_backend_max_sleep_between_retries_ms result_backend_max_retries
    result_backend_base_sleep_between_retries_ms result_backend_always_retry
    result_chord_ordered
    security_certificate security_cert_store security_key security_key_password
    security_digest
    database_url database_engine_options database_short_lived_sessions database_table_schemas
    database_table_names database_create_tables_at_setup
    task_acks_late task_acks_on_failure_or_timeout task_always_eager task_annotations
    task_compression task_create_missing_queues task_inherit_parent_priority
    task_default_delivery_mode task_default_queue task_default_queue_type
    task_default_exchange task_default_exchange_type task_default_routing_key
    task_default_rate_limit task_default_priority task_eager_propagates task_ignore_result
    task_store_eager_result task_protocol task_publish_retry task_publish_retry_policy
    task_queues task_queue_max_priority task_reject_on_worker_lost task_remote_tracebacks
    task_routes task_send_sent_event task_serializer task_soft_time_limit task_time_limit
    task_store_errors_even_if_ignored task_track_started task_allow_error_cb_on_chord_header
    task_send_error_emails
    worker_agent worker_autoscaler worker_cancel_long_running_tasks_on_connection_loss
    worker_soft_shutdown_timeout worker_enable_soft_shutdown_on_idle worker_concurrency
    worker_consumer worker_direct worker_disable_rate_limits
    worker_deduplicate_successful_tasks worker_enable_remote_control
    worker_hijack_root_logger worker_log_color worker_log_format worker_lost_wait
    worker_max_memory_per_child worker_max_tasks_per_child worker_pool worker_pool_putlocks
    worker_pool_restarts worker_proc_alive_timeout worker_prefetch_multiplier
    worker_enable_prefetch_count_reduction worker_redirect_stdouts
    worker_redirect_stdouts_level worker_send_task_events worker_state_db
    worker_task_log_format worker_timer worker_timer_precision worker_detect_quorum_queues
"""
#: Celery's setting names (``celery/app/defaults.py``), 4.x and later.
CELERY_NAMES = frozenset(_NAMES.split())

#: Celery 3.1 names that are not the plain rename (``CELERY_X`` -> ``task_x``, ``CELERYD_X``
#: -> ``worker_x``, ``CELERYBEAT_X`` -> ``beat_x``), from Celery's ``_TO_NEW_KEY``.
_OLD_NAMES = {
    "celery_eager_propagates_exceptions": "task_eager_propagates",
    "celery_task_result_expires": "result_expires",
    "celery_max_cached_results": "result_cache_max",
    "celery_message_compression": "task_compression",
    "celery_send_task_sent_event": "task_send_sent_event",
    "celeryd_task_soft_time_limit": "task_soft_time_limit",
    "celeryd_task_time_limit": "task_time_limit",
    "celery_disable_rate_limits": "worker_disable_rate_limits",
    "celery_enable_remote_control": "worker_enable_remote_control",
    "celery_worker_direct": "worker_direct",
    "celeryd_worker_lost_wait": "worker_lost_wait",
    "celery_redirect_stdouts": "worker_redirect_stdouts",
    "celery_redirect_stdouts_level": "worker_redirect_stdouts_level",
    "celery_send_events": "worker_send_task_events",
    "celery_result_dburi": "database_url",
    "celery_result_engine_options": "database_engine_options",
    "celery_result_db_short_lived_sessions": "database_short_lived_sessions",
    "celery_result_db_tablenames": "database_table_names",
    "celery_enable_utc": "enable_utc",
    "celery_backend": "result_backend",
}


def celery_name(name: str, namespace: str | None = None) -> str | None:
    """
    Celery's (4.x) lower-case name for setting `name`, or None if it is not one.

    With a `namespace` ("CELERY"), ``CELERY_TASK_ALWAYS_EAGER`` is ``task_always_eager``;
    3.1's names are read too, in any case: ``CELERY_ALWAYS_EAGER``, ``CELERYD_TASK_TIME_LIMIT``,
    ``BROKER_URL``.
    """
    low = str(name).lower()
    if namespace:
        prefix = namespace.lower() + "_"
        if low.startswith(prefix) and low[len(prefix) :] in CELERY_NAMES:
            return low[len(prefix) :]
    if low in CELERY_NAMES:
        return low
    if low in _OLD_NAMES:
        return _OLD_NAMES[low]
    for old, new in (("celeryd_", "worker_"), ("celerybeat_", "beat_"), ("celery_", "task_")):
        if low.startswith(old):
            rest = low[len(old) :]
            for candidate in (new + rest, rest):
                if candidate in CELERY_NAMES:
                    return candidate
            return None
    return None


def _ignored_reason(name: str) -> tuple[str, str]:
    """The check id and reason for a Celery setting that sets nothing here."""
    if name in CELERY_NOT_APPLIED:
        return "django_tasks.W001", CELERY_NOT_APPLIED[name]
    for prefix, reason in _CELERY_IGNORED:
        if name.startswith(prefix):
            return "django_tasks.I001", reason
    return "django_tasks.I001", "django_tasks does not use it"  # pragma: no cover


@dataclass
class _Read:
    """Celery settings read from one place: the keys they set and what else they said."""

    #: key -> value, for the keys set here.
    values: dict[str, Any]
    #: key -> the setting's name as written (for messages).
    names: dict[str, str]
    #: Celery name -> (name as written, value) of the settings that set nothing here.
    ignored: dict[str, tuple[str, Any]]
    errors: list[Problem]
    notes: list[Problem]


def _interpret(items: list[tuple[str, str | None, Any]]) -> _Read:
    """Map (name as written, Celery name or None if unknown, value) onto keys here."""
    read = _Read({}, {}, {}, [], [])
    utc = None
    for written, name, value in items:
        if name is None:
            known = sorted(CELERY_NAMES)
            close = closest(written.lower().removeprefix("celery_"), known)
            if close and written.isupper():
                prefix = "CELERY_" if written.startswith("CELERY_") else ""
                close = prefix + close.upper()
            hint = f" Did you mean {close!r}?" if close else ""
            read.errors.append(
                Problem(
                    "django_tasks.E007",
                    f"{written} is not a Celery setting django_tasks knows.{hint}",
                )
            )
            continue
        key = CELERY_KEYS.get(name)
        if key is None:
            check_id, reason = _ignored_reason(name)
            read.ignored[name] = (written, value)
            verb = "is not applied" if check_id.endswith("W001") else "is ignored"
            read.notes.append(Problem(check_id, f"{written} {verb}: {reason}."))
            continue
        if name == "enable_utc":
            utc = (written, value)
            continue
        if name == "task_serializer" and value != "json":
            read.errors.append(
                Problem(
                    "django_tasks.E008",
                    f"{written} is {value!r}: django_tasks sends JSON only; set it to "
                    "'json' or remove it (pass model ids, not objects).",
                )
            )
            continue
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if key == "IMPORTS" and isinstance(value, list | tuple):
            value = [*read.values.get("IMPORTS", []), *value]
        valid, what = _RULES[key]
        if not valid(value):
            read.errors.append(
                Problem("django_tasks.E006", f"{written} must be {what}, not {value!r}.")
            )
            continue
        read.values[key] = value
        read.names[key] = written
    if utc is not None and "TIMEZONE" not in read.values:
        if not isinstance(utc[1], bool):
            read.errors.append(
                Problem("django_tasks.E006", f"{utc[0]} must be True or False, not {utc[1]!r}.")
            )
        elif utc[1]:
            read.values["TIMEZONE"], read.names["TIMEZONE"] = "UTC", utc[0]
    return read


# -- where Celery's settings come from: config_from_object and app.conf --------------------------

#: ``app.config_from_object(obj, namespace=)``: (obj, namespace, silent), or None.
_source: tuple[Any, str | None, bool] | None = None
#: ``app.conf.X = value``: name as written -> value (a Celery name or a key here).
_overrides: dict[str, Any] = {}
#: Constructor arguments of ``Celery(...)`` that mean nothing here -> why.
_ignored_args: dict[str, str] = {}
_celery_cache: _Read | None = None


def setting_name(key: str) -> str:
    """How the setting that gave `key` its value is written: ``CELERY_TASK_ROUTES``, ..."""
    raw = getattr(django_settings, "DJANGO_TASKS", {})
    for read in (_overrides_read(), None, _celery_settings()):
        if read is None:
            if isinstance(raw, dict) and key in raw:
                return f"DJANGO_TASKS[{key!r}]"
        elif key in read.names:
            return read.names[key]
    return f"DJANGO_TASKS[{key!r}]"


def set_source(obj: Any, namespace: str | None = None, *, silent: bool = False) -> None:
    """Read Celery's settings from `obj` (``"django.conf:settings"``, a module path, an object)."""
    global _source
    if not (namespace is None or (isinstance(namespace, str) and namespace)):
        raise ImproperlyConfigured(
            f"config_from_object() namespace must be a prefix such as 'CELERY' or None, "
            f"not {namespace!r}."
        )
    _source = (obj, namespace, silent)
    changed()


def note_ignored(name: str, reason: str) -> None:
    """Record an argument that means nothing here, for ``manage.py check`` to list."""
    _ignored_args[name] = reason


def _django_setting_names() -> list[str]:
    return [n for n in dir(django_settings) if n.isupper()]


def _celery_settings() -> _Read:
    global _celery_cache
    if _celery_cache is None:
        try:
            _celery_cache = _interpret(_source_items())
        except ImproperlyConfigured as exc:  # config_from_object's module does not import
            _celery_cache = _Read({}, {}, {}, [Problem("django_tasks.E010", str(exc))], [])
    return _celery_cache


def _source_items() -> list[tuple[str, str | None, Any]]:
    if _source is None:
        return []
    obj, namespace, silent = _source
    if obj == "django.conf:settings" or obj is django_settings:
        target, names, is_django = django_settings, _django_setting_names(), True
    else:
        target = obj
        if isinstance(obj, str):
            from django.utils.module_loading import import_string

            path = obj.replace(":", ".")
            try:
                import importlib

                target = importlib.import_module(path)
            except ImportError:
                try:
                    target = import_string(path)
                except ImportError as exc:
                    if silent:
                        return []
                    raise ImproperlyConfigured(
                        f"app.config_from_object({obj!r}) cannot import it: {exc}."
                    ) from exc
        names = [n for n in dir(target) if not n.startswith("_")]
        is_django = False
    items = []
    for written in names:
        name = celery_name(written, namespace)
        if name is None:
            if namespace and not written.startswith(namespace.upper() + "_"):
                if not (namespace.upper() == "CELERY" and written.startswith("CELERY")):
                    continue
            elif not namespace and not written.upper().startswith("CELERY"):
                continue  # a module's helpers, or Django's own settings
            if not is_django and not written.isupper() and not closest(written, CELERY_NAMES):
                continue
        items.append((written, name, getattr(target, written)))
    return items


def _override_item(written: str, value: Any) -> tuple[str, str | None, Any] | None:
    """An ``app.conf`` assignment as a Celery setting, or None for a key of DJANGO_TASKS."""
    if written in DEFAULTS:
        return None
    return (f"app.conf[{written!r}]", celery_name(written, "CELERY"), value)


def _overrides_read() -> _Read:
    items, ours = [], {}
    for written, value in _overrides.items():
        item = _override_item(written, value)
        if item is None:
            ours[written] = value
        else:
            items.append(item)
    read = _interpret(items)
    for key, value in ours.items():
        read.values[key], read.names[key] = value, f"app.conf[{key!r}]"
    return read


def set_override(written: str, value: Any) -> None:
    """
    ``app.conf[written] = value``: a key here or a Celery name; checked now, read by ``get``.

    Raises ``ImproperlyConfigured`` naming it when it is neither, or the value is bad.
    """
    item = _override_item(written, value)
    if item is None:
        valid, what = _RULES[written]
        if not valid(value):
            raise ImproperlyConfigured(f"app.conf[{written!r}] must be {what}, not {value!r}.")
    else:
        read = _interpret([item])
        if read.errors:
            message = read.errors[0].message
            if item[1] is None:
                close = closest(written, [*CELERY_NAMES, *DEFAULTS])
                hint = f" Did you mean {close!r}?" if close else ""
                message = f"app.conf[{written!r}] is not a setting: it cannot take effect.{hint}"
            raise ImproperlyConfigured(message)
    _overrides[written] = value
    changed()


def state() -> tuple:
    """The app's configuration (``config_from_object`` and ``app.conf``), to restore (tests)."""
    return _source, dict(_overrides), dict(_ignored_args)


def restore(saved: tuple) -> None:
    """Put back a configuration `state()` returned (tests)."""
    global _source
    _source = saved[0]
    _overrides.clear()
    _overrides.update(saved[1])
    _ignored_args.clear()
    _ignored_args.update(saved[2])
    changed()


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
    if name in DEFAULTS:
        return name
    celery = celery_name(name, "CELERY")
    if celery in CELERY_KEYS:
        return CELERY_KEYS[celery]
    if celery is not None:
        _, reason = _ignored_reason(celery)
        raise KeyError(f"{name!r} is a Celery setting django_tasks ignores: {reason}.")
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
    """
    ``app.conf``: the settings, read by their keys or Celery's names; assignments override.

    ``app.conf.task_default_queue = "mail"``, ``app.conf["CELERY_ROUTES"] = {...}`` and
    ``app.conf.update(...)`` are checked at once and win over ``DJANGO_TASKS``; a name that
    is no setting raises. Celery settings ignored here read back as they were set.
    """

    def __getitem__(self, name: str) -> Any:
        celery = celery_name(name, "CELERY") if name not in DEFAULTS else None
        if celery is not None and celery not in CELERY_KEYS:
            for read in (_overrides_read(), _celery_settings()):
                if celery in read.ignored:
                    return read.ignored[celery][1]
        return get(setting_key(name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __setattr__(self, name: str, value: Any) -> None:
        set_override(name, value)

    def __setitem__(self, name: str, value: Any) -> None:
        set_override(name, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several settings at once (Celery's ``app.conf.update``)."""
        for name, value in dict(*args, **kwargs).items():
            set_override(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(DEFAULTS)

    def __len__(self) -> int:
        return len(DEFAULTS)

    def __repr__(self) -> str:
        return f"<DJANGO_TASKS {dict(self)!r}>"


settings_view = SettingsView()
