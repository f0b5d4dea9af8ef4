"""The ``Task`` class: options, calling (delay/apply_async/apply), retry and update_state."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from . import conf
from .exceptions import MaxRetriesExceededError, Retry
from .message import Message
from .ratelimit import parse_rate
from .request import Request, current_request
from .serialization import encode_call

logger = logging.getLogger(__name__)

#: Options a task accepts (decorator keyword or class attribute), Celery's names.
TASK_OPTIONS = frozenset({
    "name", "bind", "base", "max_retries", "default_retry_delay", "rate_limit", "time_limit",
    "soft_time_limit", "ignore_result", "store_errors_even_if_ignored", "send_error_emails",
    "acks_late", "track_started", "throws", "queue", "priority", "expires", "serializer",
    "autoretry_for", "retry_backoff", "retry_backoff_max", "retry_jitter", "typing",
    "retry_kwargs", "shared", "abstract",
})

#: Options ``apply_async`` accepts.
CALL_OPTIONS = frozenset({
    "args", "kwargs", "countdown", "eta", "expires", "queue", "priority", "task_id", "link",
    "link_error", "on_commit", "headers", "time_limit", "soft_time_limit", "acks_late",
    "retries", "max_retries", "parent_id", "root_id", "group_id", "chain", "using",
    "shadow", "serializer", "routing_key", "exchange", "ignore_result",
})


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """A task's options resolved: keyword > class attribute > DJANGO_TASKS > default."""

    max_retries: int | None
    default_retry_delay: float
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
    retry_backoff: int | bool
    retry_backoff_max: int
    retry_jitter: bool
    typing: bool




class Task:
    """
    A task: subclass it for a custom base class (``abstract = True`` is never registered).

    Class attributes are Celery's task options; ``None`` on a settings-backed option means
    "use ``DJANGO_TASKS``". One instance per process runs every call of the task.
    """

    #: The task's registered name (default: the canonical module path plus function name).
    name: str | None = None
    #: A base class to share code between tasks; never registered.
    abstract: bool = True
    #: Pass the task instance as ``self`` first argument.
    bind: bool = False
    #: Retries before giving up; None retries forever.
    max_retries: int | None = 3
    #: Seconds to wait before a retry when ``retry`` is given no countdown or eta.
    default_retry_delay: float = 180
    #: Per worker process: "10/s", "100/m", "1000/h" or an int per second (DEFAULT_RATE_LIMIT).
    rate_limit: str | int | None = None
    #: Hard limit in seconds: the process is killed and replaced (TIME_LIMIT).
    time_limit: float | None = None
    #: Soft limit in seconds: SoftTimeLimitExceeded raised inside the task (SOFT_TIME_LIMIT).
    soft_time_limit: float | None = None
    #: Keep no return value (IGNORE_RESULT).
    ignore_result: bool | None = None
    #: Keep errors even when ignore_result is set (STORE_ERRORS_EVEN_IF_IGNORED).
    store_errors_even_if_ignored: bool | None = None
    #: Mail ADMINS when the task fails (SEND_TASK_ERROR_EMAILS).
    send_error_emails: bool | None = None
    #: Acknowledge after the body ran: redelivered if the worker dies mid-run (ACKS_LATE).
    acks_late: bool | None = None
    #: Record STARTED with the worker when the body starts (TRACK_STARTED).
    track_started: bool | None = None
    #: Expected exceptions: logged at INFO without traceback, no error e-mail.
    throws: tuple[type[BaseException], ...] = ()
    #: Queue name (DEFAULT_QUEUE).
    queue: str | None = None
    #: 0 to 9, higher first (DEFAULT_PRIORITY).
    priority: int | None = None
    #: Seconds after enqueue (or a datetime) past which the task is revoked unrun.
    expires: float | datetime | None = None
    #: Only "json".
    serializer: str | None = None
    #: Exceptions that retry the task automatically.
    autoretry_for: tuple[type[BaseException], ...] = ()
    #: Options for automatic retries (e.g. {"max_retries": 5, "countdown": 2}).
    retry_kwargs: dict[str, Any] | None = None
    #: Exponential backoff for autoretry: True (1 s base) or the base in seconds.
    retry_backoff: int | bool = False
    #: The longest backoff delay in seconds.
    retry_backoff_max: int = 600
    #: Randomise backoff delays (full jitter).
    retry_jitter: bool = True
    #: Check call signatures at enqueue (TYPING).
    typing: bool | None = None

    _orig_run: Callable | None = None
    _options: TaskOptions | None = None
    app: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """
        Register a concrete class-based task (one defining ``run`` without ``abstract``).

        As in Celery, ``abstract`` is read from the class body only: a subclass that does
        not say ``abstract = True`` is a task, named ``<module>.<ClassName>``.
        """
        super().__init_subclass__(**kwargs)
        if "_orig_run" in cls.__dict__ or cls.__dict__.get("abstract", False):
            return
        if "run" not in cls.__dict__:
            cls.abstract = True
            return
        from .app import app as default_app, canonical_module

        cls.abstract = False
        if not cls.__dict__.get("name"):
            cls.name = f"{canonical_module(cls.__module__)}.{cls.__qualname__}"
        cls._orig_run = cls.__dict__["run"]
        instance = cls()
        instance.app = default_app
        _resolve(instance)
        default_app.tasks.register(instance)
        conf._on_change.append(instance._drop_options)

    def get_logger(self, **kwargs: Any):
        """This task's logger (Celery's ``Task.get_logger``)."""
        from .log import get_task_logger

        return get_task_logger(self.name)

    # -- options -------------------------------------------------------------------------------

    @property
    def options(self) -> TaskOptions:
        """The resolved options (settings read once, dropped when DJANGO_TASKS changes)."""
        if self._options is None:
            self._options = _resolve(self)
        return self._options

    def _drop_options(self) -> None:
        self._options = None

    # -- calling -------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body inline in this process (``request.called_directly`` is true)."""
        from .request import pop, push

        outer = current_request()
        if outer.id is not None and outer.task == self.name:
            return self.run(*args, **kwargs)
        token = push(Request(task=self.name, args=args, kwargs=kwargs, called_directly=True))
        try:
            return self.run(*args, **kwargs)
        finally:
            pop(token)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The task body; the decorator sets it from the decorated function."""
        raise NotImplementedError(f"Task {self.name!r} defines no run().")

    def delay(self, *args: Any, **kwargs: Any):
        """Enqueue the task with these arguments; shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: tuple | list | None = None,
        kwargs: dict[str, Any] | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        expires: float | datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        on_commit: bool | None = None,
        **options: Any,
    ):
        """
        Enqueue the task and return its ``AsyncResult``.

        Inside ``transaction.atomic()`` the row is written on commit (rollback enqueues
        nothing) unless ``on_commit=False``. Arguments are checked (JSON, and the call
        signature when ``typing``) here, not in the worker. With ``ALWAYS_EAGER`` the task
        runs here and an ``EagerResult`` is returned.
        """
        from .result import AsyncResult

        unknown = set(options) - CALL_OPTIONS
        if unknown:
            raise TypeError(
                f"Task {self.name!r}: apply_async() got unknown option(s) "
                f"{', '.join(sorted(map(repr, unknown)))}."
            )
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        if conf.get("ALWAYS_EAGER"):
            return self.apply(args, kwargs, task_id=task_id, link=link, link_error=link_error,
                              **{k: v for k, v in options.items() if k in ("headers",)})
        message = self._message(
            args, kwargs, countdown=countdown, eta=eta, expires=expires, queue=queue,
            priority=priority, task_id=task_id, link=link, link_error=link_error, **options,
        )
        using = options.get("using") or conf.get("DATABASE")
        self._send(message, using, on_commit)
        return AsyncResult(message.id, task_name=self.name, using=using)

    def _message(self, args: tuple, kwargs: dict, *, countdown=None, eta=None, expires=None,
                 queue=None, priority=None, task_id=None, link=None, link_error=None,
                 **options: Any) -> Message:
        """Check a call and build its message (no database access)."""
        from .canvas import signature_list

        opts = self.options
        if opts.typing:
            self._check_signature(args, kwargs)
        run_at = _eta(self.name, countdown, eta)
        expires = expires if expires is not None else opts.expires
        expires_at = _expires(self.name, expires, run_at)
        queue = queue or opts.queue
        if not isinstance(queue, str) or not queue:
            raise ValueError(f"Task {self.name!r}: queue must be a non-empty string, not {queue!r}.")
        priority = opts.priority if priority is None else priority
        _check_priority(self.name, priority)
        wire_args, wire_kwargs = encode_call(self.name, args, kwargs, self._param_names())
        extra: dict[str, Any] = {}
        for key in ("time_limit", "soft_time_limit"):
            value = options.get(key, getattr(opts, key))
            if value is not None:
                extra[key] = value
        extra["acks_late"] = bool(options.get("acks_late", opts.acks_late))
        extra["track_started"] = opts.track_started
        max_retries = options.get("max_retries", opts.max_retries)
        if max_retries is not None:
            extra["max_retries"] = max_retries
        if link:
            extra["link"] = signature_list(link)
        if link_error:
            extra["link_error"] = signature_list(link_error)
        for key in ("headers", "parent_id", "root_id", "group_id", "chain"):
            if options.get(key):
                extra[key] = options[key]
        if options.get("ignore_result") is not None:
            extra["ignore_result"] = bool(options["ignore_result"])
        return Message(
            id=str(task_id or uuid.uuid4()), name=self.name, args=tuple(wire_args),
            kwargs=wire_kwargs, queue=queue, priority=priority,
            retries=int(options.get("retries") or 0), eta=run_at, expires=expires_at,
            options=extra,
        )

    def _send(self, message: Message, using: str, on_commit: bool | None) -> None:
        from .broker import get_broker
        from .signals import after_task_publish

        broker = get_broker(using)
        connection = connections[using]

        def write() -> None:
            broker.enqueue([message])
            after_task_publish.send(sender=self, task_id=message.id, message=message)

        if connection.in_atomic_block and on_commit is not False:
            transaction.on_commit(write, using=using)
        else:
            write()

    def _param_names(self) -> list[str] | None:
        try:
            params = list(inspect.signature(self.run).parameters.values())
        except (TypeError, ValueError):
            return None
        return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def _check_signature(self, args: tuple, kwargs: dict) -> None:
        try:
            sig = inspect.signature(self.run)
        except (TypeError, ValueError):
            return
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"Task {self.name!r} called with bad arguments: {exc}.") from None

    def apply(self, args: tuple | list | None = None, kwargs: dict | None = None,
              task_id: str | None = None, retries: int = 0, throw: bool | None = None,
              link: Any = None, link_error: Any = None, **options: Any):
        """Run the task here and now, as a worker would, and return an ``EagerResult``."""
        from .trace import apply_eagerly

        return apply_eagerly(self, tuple(args or ()), dict(kwargs or {}), task_id=task_id,
                             retries=retries, throw=throw, link=link, link_error=link_error,
                             **options)

    # -- inside a task -------------------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The context of the invocation running now (a direct call's outside a worker)."""
        return current_request()

    def retry(self, args: Any = None, kwargs: Any = None, exc: BaseException | None = None,
              throw: bool = True, eta: datetime | None = None, countdown: float | None = None,
              max_retries: int | None = None, **options: Any) -> Retry:
        """
        Retry the task: the same id runs again later with ``retries + 1``.

        Raises ``Retry`` (unless ``throw=False``, then returns it). Past ``max_retries`` it
        raises `exc` when given, else ``MaxRetriesExceededError``. ``options`` may override
        ``queue`` and ``priority`` for the next attempt.
        """
        if isinstance(args, BaseException) and exc is None:
            # ``self.retry(exc, countdown=10)``, as the guide writes it: exc given first.
            args, exc = None, args
        request = self.request
        if request.called_directly or request.task != self.name:
            # Celery: a direct call has no message to retry; re-raise what happened.
            if exc is not None:
                raise exc
            raise Retry("Task can be retried", None)
        retries = request.retries + 1
        limit = self.options.max_retries if max_retries is None else max_retries
        if limit is not None and retries > limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{request.args} "
                f"kwargs:{request.kwargs}"
            )
        if eta is None and countdown is None:
            countdown = self.options.default_retry_delay
        if countdown is not None and countdown < 0:
            raise ValueError(f"Task {self.name!r}: retry countdown must not be negative, "
                             f"not {countdown!r}.")
        unknown = set(options) - {"queue", "priority", "time_limit", "soft_time_limit"}
        if unknown:
            raise TypeError(f"Task {self.name!r}: retry() got unknown option(s) "
                            f"{', '.join(sorted(map(repr, unknown)))}.")
        when = eta if eta is not None else timezone.now() + timedelta(seconds=countdown or 0)
        ret = Retry(exc=exc, when=eta if eta is not None else countdown)
        ret.eta = when
        ret.retries = retries
        ret.options = options
        ret.args_override = tuple(args) if args is not None else None
        ret.kwargs_override = dict(kwargs) if kwargs is not None else None
        from .trace import note_retry

        note_retry(ret)
        if throw:
            raise ret
        return ret

    def update_state(self, task_id: str | None = None, state: str | None = None,
                     meta: Any = None) -> None:
        """
        Set a custom state (e.g. "PROGRESS") and meta for the running task.

        Visible at once to ``AsyncResult`` in any process; the worker overwrites it when the
        task finishes. Outside a worker (eager, direct) there is no row and nothing is stored.
        """
        from .broker import get_broker
        from .serialization import encode_result

        request = self.request
        task_id = task_id or request.id
        if task_id is None:
            return
        meta = encode_result(self.name, meta)
        if request.stored or task_id != request.id:
            get_broker(request.using).update_state(task_id, state or "PENDING", meta)

    def AsyncResult(self, task_id: str):  # noqa: N802 - Celery's name
        from .result import AsyncResult

        return AsyncResult(task_id, task_name=self.name)

    # -- canvas --------------------------------------------------------------------------------

    def s(self, *args: Any, **kwargs: Any):
        """A signature of this task with these arguments (``add.s(2, 2)``)."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs)

    def si(self, *args: Any, **kwargs: Any):
        """An immutable signature: a chain does not prepend the previous result."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs, immutable=True)

    def signature(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        from .canvas import Signature

        return Signature(self.name, tuple(args), kwargs or {}, options=options)

    subtask = signature

    def chunks(self, it, n: int):
        from .canvas import chunks

        return chunks(self, it, n)

    def map(self, it):
        from .canvas import group

        return group(self.s(*(a if isinstance(a, list | tuple) else (a,))) for a in it)

    def enqueue_many(self, calls, *, on_commit: bool | None = None, **options: Any) -> list:
        """
        Enqueue many calls in one statement per batch; return their ``AsyncResult``s.

        `calls` yields ``(args, kwargs)`` pairs (or args tuples). Every call is checked as
        ``apply_async`` checks one, before anything is written.
        """
        from .result import AsyncResult

        messages = []
        for call in calls:
            if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], dict):
                args, kwargs = call
            else:
                args, kwargs = call, {}
            messages.append(self._message(tuple(args), dict(kwargs), **options))
        using = options.get("using") or conf.get("DATABASE")
        send_many(messages, using, on_commit)
        return [AsyncResult(m.id, task_name=self.name, using=using) for m in messages]

    # -- handlers (Celery's signatures) ----------------------------------------------------------

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        """Run by the worker when the task succeeded."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                   einfo: Any) -> None:
        """Run by the worker when the task failed."""

    def on_retry(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                 einfo: Any) -> None:
        """Run by the worker when the task is to be retried."""

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict,
                     einfo: Any) -> None:
        """Run by the worker after the task returned, whatever its outcome."""

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"


def send_many(messages: list[Message], using: str, on_commit: bool | None) -> None:
    """Write `messages` now, or at commit inside a transaction (unless on_commit=False)."""
    from .broker import get_broker

    if not messages:
        return
    broker = get_broker(using)
    if connections[using].in_atomic_block and on_commit is not False:
        transaction.on_commit(lambda: broker.enqueue(messages), using=using)
    else:
        broker.enqueue(messages)


# -- decoration ---------------------------------------------------------------------------------


def create_task(app, fun: Callable, base: type[Task], options: dict[str, Any]) -> Task:
    """Build the task class for `fun` (a subclass of `base`), validate, register one instance."""
    from .app import canonical_module

    if not (isinstance(base, type) and issubclass(base, Task)):
        raise TypeError(f"base= must be a Task subclass, not {base!r}.")
    unknown = set(options) - TASK_OPTIONS
    if unknown:
        raise TypeError(
            f"Task {fun.__module__}.{fun.__qualname__}: unknown option(s) "
            f"{', '.join(sorted(map(repr, unknown)))}."
        )
    name = options.pop("name", None) or base.__dict__.get("name") or (
        f"{canonical_module(fun.__module__)}.{fun.__qualname__}"
    )
    bind = options.pop("bind", False)
    options.pop("shared", None)
    run = fun if bind else staticmethod(fun)
    attrs = {
        "name": name, "run": run, "_orig_run": fun, "abstract": False,
        "__doc__": fun.__doc__, "__module__": fun.__module__, "__wrapped__": fun,
        **options,
    }
    cls = type(fun.__name__, (base,), attrs)
    task = cls()
    task.app = app
    _resolve(task)  # validate now: bad options fail at import
    task = app.tasks.register(task)
    conf._on_change.append(task._drop_options)
    return task


def _resolve(task: Task) -> TaskOptions:
    name = task.name

    def pick(attr: str, setting: str | None = None) -> Any:
        value = getattr(task, attr)
        if value is None and setting is not None:
            return conf.get(setting)
        return value

    try:
        rate = None if conf.get("DISABLE_RATE_LIMITS") else parse_rate(
            pick("rate_limit", "DEFAULT_RATE_LIMIT")
        )
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"Task {name!r} option 'rate_limit': {exc}.") from None
    serializer = pick("serializer", "SERIALIZER")
    if serializer != "json":
        raise ImproperlyConfigured(
            f"Task {name!r} option 'serializer' must be 'json' (the only serializer), "
            f"not {serializer!r}."
        )
    time_limit = pick("time_limit", "TIME_LIMIT")
    soft = pick("soft_time_limit", "SOFT_TIME_LIMIT")
    for key, value in (("time_limit", time_limit), ("soft_time_limit", soft)):
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                  or value <= 0):
            raise ImproperlyConfigured(f"Task {name!r} option {key!r} must be seconds > 0, "
                                       f"not {value!r}.")
    if time_limit and soft and soft >= time_limit:
        raise ImproperlyConfigured(f"Task {name!r}: soft_time_limit ({soft!r}) must be below "
                                   f"time_limit ({time_limit!r}).")
    max_retries = task.max_retries
    if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
        raise ImproperlyConfigured(f"Task {name!r} option 'max_retries' must be an integer "
                                   f">= 0 or None, not {max_retries!r}.")
    priority = pick("priority", "DEFAULT_PRIORITY")
    _check_priority(name, priority, ImproperlyConfigured)
    for key in ("throws", "autoretry_for"):
        value = getattr(task, key)
        if not isinstance(value, tuple | list) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in value
        ):
            raise ImproperlyConfigured(f"Task {name!r} option {key!r} must be a tuple of "
                                       f"exception classes, not {value!r}.")
    queue = pick("queue", "DEFAULT_QUEUE")
    if not isinstance(queue, str) or not queue:
        raise ImproperlyConfigured(f"Task {name!r} option 'queue' must be a non-empty string, "
                                   f"not {queue!r}.")
    return TaskOptions(
        max_retries=max_retries,
        default_retry_delay=task.default_retry_delay,
        rate_limit=rate,
        time_limit=time_limit,
        soft_time_limit=soft,
        ignore_result=bool(pick("ignore_result", "IGNORE_RESULT")),
        store_errors_even_if_ignored=bool(
            pick("store_errors_even_if_ignored", "STORE_ERRORS_EVEN_IF_IGNORED")
        ),
        send_error_emails=bool(pick("send_error_emails", "SEND_TASK_ERROR_EMAILS")),
        acks_late=bool(pick("acks_late", "ACKS_LATE")),
        track_started=bool(pick("track_started", "TRACK_STARTED")),
        throws=tuple(task.throws),
        queue=queue,
        priority=priority,
        expires=task.expires,
        autoretry_for=tuple(task.autoretry_for),
        retry_backoff=task.retry_backoff,
        retry_backoff_max=task.retry_backoff_max,
        retry_jitter=task.retry_jitter,
        typing=bool(pick("typing", "TYPING")),
    )


def _check_priority(name: str, priority: Any, error: type[Exception] = ValueError) -> None:
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise error(f"Task {name!r}: priority must be an integer from 0 to 9, not {priority!r}.")


def _eta(name: str, countdown: Any, eta: Any) -> datetime | None:
    if countdown is not None and eta is not None:
        raise ValueError(f"Task {name!r}: give countdown or eta, not both.")
    if countdown is not None:
        if not isinstance(countdown, int | float) or isinstance(countdown, bool):
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


def _expires(name: str, expires: Any, run_at: datetime | None) -> datetime | None:
    if expires is None:
        return None
    if isinstance(expires, bool):
        raise TypeError(f"Task {name!r}: expires must be seconds or a datetime, not {expires!r}.")
    if isinstance(expires, int | float):
        if expires < 0:
            raise ValueError(f"Task {name!r}: expires must not be negative, not {expires!r}.")
        return timezone.now() + timedelta(seconds=expires)
    if isinstance(expires, datetime):
        if settings.USE_TZ and timezone.is_naive(expires):
            raise ValueError(f"Task {name!r}: expires {expires!r} is naive but USE_TZ is on; "
                             "pass an aware datetime.")
        return expires
    raise TypeError(f"Task {name!r}: expires must be seconds or a datetime, not {expires!r}.")


