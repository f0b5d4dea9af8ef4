"""The ``Task`` class: options, calling (delay/apply_async/apply), retry and update_state."""

from __future__ import annotations

import difflib
import inspect
import logging
import sys
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
from .message import Message, new_task_id
from .ratelimit import parse_rate
from .request import Request, current_request
from .serialization import encode_call, encode_call_text

logger = logging.getLogger(__name__)

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
    }
)

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
        "using",
        "shadow",
        "serializer",
        "routing_key",
        "exchange",
        "ignore_result",
    }
)

#: Options ``retry(**options)`` may change for the next attempt.
RETRY_OPTIONS = frozenset({"queue", "priority"})

#: Keys ``retry_kwargs`` may hold (the keywords of ``Task.retry``).
RETRY_KWARGS = frozenset({"max_retries", "countdown", "eta", "queue", "priority"})


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


_UNSET = object()


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


class Task:
    """
    A task: subclass it for a custom base class (``abstract = True`` is never registered).

    Class attributes are Celery's task options; an option marked with its ``DJANGO_TASKS``
    key below reads that setting until a keyword or subclass sets it. One instance per
    process runs every call of the task.
    """

    #: The task's registered name (default: the module path of its installed app plus the
    #: function's ``__name__``, as Celery's automatic names).
    name: str | None = None
    #: A base class to share code between tasks; never registered.
    abstract: bool = True
    #: Pass the task instance as ``self`` first argument.
    bind: bool = False
    #: Retries before giving up; None retries forever (DEFAULT_MAX_RETRIES, 3).
    max_retries: int | None = FromSettings("DEFAULT_MAX_RETRIES")
    #: Seconds before a retry given no countdown or eta (DEFAULT_RETRY_DELAY, 180).
    default_retry_delay: float = FromSettings("DEFAULT_RETRY_DELAY")
    #: Per worker process: "10/s", "100/m", "1000/h" or a number per second
    #: (DEFAULT_RATE_LIMIT; DISABLE_RATE_LIMITS turns every limit off).
    rate_limit: str | float | None = FromSettings("DEFAULT_RATE_LIMIT")
    #: Hard limit in seconds: the process is killed and replaced (unset: the worker's
    #: ``--time-limit`` or TIME_LIMIT).
    time_limit: float | None = None
    #: Soft limit in seconds: SoftTimeLimitExceeded is raised inside the task (unset: the
    #: worker's ``--soft-time-limit`` or SOFT_TIME_LIMIT).
    soft_time_limit: float | None = None
    #: Keep no return value (IGNORE_RESULT).
    ignore_result: bool = FromSettings("IGNORE_RESULT")
    #: Keep errors even when ignore_result is set (STORE_ERRORS_EVEN_IF_IGNORED).
    store_errors_even_if_ignored: bool = FromSettings("STORE_ERRORS_EVEN_IF_IGNORED")
    #: Mail ADMINS when the task fails unexpectedly (SEND_TASK_ERROR_EMAILS).
    send_error_emails: bool = FromSettings("SEND_TASK_ERROR_EMAILS")
    #: Acknowledge after the body ran: redelivered if the worker dies mid-run (ACKS_LATE).
    acks_late: bool = FromSettings("ACKS_LATE")
    #: Record STARTED with the worker when the body starts (TRACK_STARTED).
    track_started: bool = FromSettings("TRACK_STARTED")
    #: Expected exceptions: logged at INFO without traceback, no error e-mail.
    throws: tuple[type[BaseException], ...] = ()
    #: Queue name (DEFAULT_QUEUE).
    queue: str = FromSettings("DEFAULT_QUEUE")
    #: 0 to 9, higher first (DEFAULT_PRIORITY).
    priority: int = FromSettings("DEFAULT_PRIORITY")
    #: Seconds after enqueue (or an aware datetime) past which the task is revoked unrun.
    expires: float | datetime | None = None
    #: Only "json" (SERIALIZER).
    serializer: str = FromSettings("SERIALIZER")
    #: Exceptions that retry the task automatically.
    autoretry_for: tuple[type[BaseException], ...] = ()
    #: Keywords for automatic retries' ``retry()`` (e.g. {"max_retries": 5, "countdown": 2}).
    retry_kwargs: dict[str, Any] = {}  # noqa: RUF012 - read only, as Celery's
    #: Exponential backoff for autoretry: True (1 s factor) or the factor in seconds.
    retry_backoff: int | bool = False
    #: The longest backoff delay in seconds.
    retry_backoff_max: float = 600
    #: Randomise backoff delays (full jitter: a random delay up to the computed one).
    retry_jitter: bool = True
    #: Check call signatures at enqueue (TYPING).
    typing: bool = FromSettings("TYPING")

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
        from .app import app as default_app
        from .app import canonical_module

        cls.abstract = False
        if not cls.__dict__.get("name"):
            cls.name = f"{canonical_module(cls.__module__)}.{cls.__name__}"
        cls._orig_run = cls.__dict__["run"]
        instance = cls()
        instance.app = default_app
        _resolve(instance)
        default_app.tasks.register(instance)
        conf._on_change.append(instance._drop_options)

    def get_logger(self, **kwargs: Any):
        """This task's logger (Celery's ``Task.get_logger``): records carry name and id."""
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
        if outer.id is not None and outer.task == self.name and not outer.called_directly:
            # The worker (or apply) calls a custom __call__ that calls super(): the request
            # pushed for this invocation is already current.
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
        signature when ``typing``) here, not in the worker: a bad call raises and writes
        nothing. With ``ALWAYS_EAGER`` the task runs here and an ``EagerResult`` is returned.
        """
        from .result import AsyncResult

        _check_call_options(self.name, "apply_async()", options, CALL_OPTIONS)
        message = self._message(
            tuple(args or ()),
            dict(kwargs or {}),
            countdown=countdown,
            eta=eta,
            expires=expires,
            queue=queue,
            priority=priority,
            task_id=task_id,
            link=link,
            link_error=link_error,
            **options,
        )
        if conf.get("ALWAYS_EAGER"):
            from .trace import apply_eagerly

            return apply_eagerly(self, message)
        using = options.get("using") or conf.get("DATABASE")
        self._send(message, using, on_commit)
        return AsyncResult(message.id, task_name=self.name, using=using)

    def _message(
        self,
        args: tuple,
        kwargs: dict,
        *,
        countdown=None,
        eta=None,
        expires=None,
        queue=None,
        priority=None,
        task_id=None,
        link=None,
        link_error=None,
        **options: Any,
    ) -> Message:
        """Check a call and build its message (no database access)."""
        from .canvas import signature_list

        opts = self.options
        if opts.typing:
            self._check_signature(args, kwargs)
        serializer = options.get("serializer")
        if serializer is not None and serializer != "json":
            raise ImproperlyConfigured(
                f"Task {self.name!r}: serializer must be 'json' (the only serializer), "
                f"not {serializer!r}."
            )
        run_at = _eta(self.name, countdown, eta)
        expires_at = _expires(self.name, expires if expires is not None else opts.expires)
        queue = opts.queue if queue is None else queue
        if not isinstance(queue, str) or not queue or len(queue) > 100:
            raise ValueError(
                f"Task {self.name!r}: queue must be a name of 1 to 100 characters, not {queue!r}."
            )
        priority = opts.priority if priority is None else priority
        _check_priority(self.name, priority)
        wire_args, wire_kwargs = encode_call(self.name, args, kwargs, self._param_names())
        extra: dict[str, Any] = {}
        for key in ("time_limit", "soft_time_limit"):
            value = options.get(key, getattr(opts, key))
            if value is not None:
                _check_seconds(self.name, key, value, ValueError)
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
        sender = current_request()
        if sender.id is not None and not sender.called_directly and "parent_id" not in extra:
            # Sent from inside a running task: that task is its parent, as in Celery 4.
            extra["parent_id"] = sender.id
            extra["root_id"] = extra.get("root_id") or sender.root_id or sender.id
        if options.get("ignore_result") is not None:
            extra["ignore_result"] = bool(options["ignore_result"])
        retries = options.get("retries") or 0
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(
                f"Task {self.name!r}: retries must be an integer >= 0, not {retries!r}."
            )
        return Message(
            id=str(task_id or new_task_id()),
            name=self.name,
            args=tuple(wire_args),
            kwargs=wire_kwargs,
            queue=queue,
            priority=priority,
            retries=retries,
            eta=run_at,
            expires=expires_at,
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

    def _run_signature(self) -> inspect.Signature | None:
        """The body's signature, computed once per task (it is on every enqueue's path)."""
        cached = self.__dict__.get("_signature_cache", _UNSET)
        if cached is _UNSET:
            try:
                cached = inspect.signature(self.run)
            except (TypeError, ValueError):
                cached = None
            self.__dict__["_signature_cache"] = cached
            self.__dict__["_param_names_cache"] = (
                None
                if cached is None
                else [
                    p.name
                    for p in cached.parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                ]
            )
        return cached

    def _param_names(self) -> list[str] | None:
        self._run_signature()
        return self.__dict__["_param_names_cache"]

    def _simple_arity(self) -> tuple[tuple[str, ...], int] | None:
        """
        (parameter names, how many are required) when the body takes only plain
        positional-or-keyword parameters, so a call can be checked without ``bind``.
        """
        cached = self.__dict__.get("_arity_cache", _UNSET)
        if cached is _UNSET:
            sig = self._run_signature()
            cached = None
            if sig is not None:
                params = list(sig.parameters.values())
                if all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params):
                    required = [p for p in params if p.default is p.empty]
                    if params[: len(required)] == required:
                        cached = (tuple(p.name for p in params), len(required))
            self.__dict__["_arity_cache"] = cached
        return cached

    def _check_signature(self, args: tuple, kwargs: dict) -> None:
        sig = self._run_signature()
        if sig is None:
            return
        simple = self._simple_arity()
        if simple is not None:
            # The common shape, checked in a few comparisons (bulk enqueue checks every
            # call); anything unusual falls through to bind() for Python's own message.
            names, required = simple
            n = len(args)
            if (
                n <= len(names)
                and (not kwargs or (kwargs.keys() <= set(names[n:])))
                and n + sum(1 for k in names[n:required] if k in kwargs) >= required
            ):
                return
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"Task {self.name!r} called with bad arguments: {exc}.") from None

    def apply(
        self,
        args: tuple | list | None = None,
        kwargs: dict | None = None,
        task_id: str | None = None,
        retries: int = 0,
        throw: bool | None = None,
        link: Any = None,
        link_error: Any = None,
        **options: Any,
    ):
        """
        Run the task here and now, as a worker would, and return an ``EagerResult``.

        The arguments go through JSON as they would through the queue; retries run at once
        (countdowns are not waited for); links and chains run eagerly too. `throw` (default
        ``EAGER_PROPAGATES``) re-raises a failure here.
        """
        from .trace import apply_eagerly

        for key in ("logfile", "loglevel", "countdown", "eta", "expires"):
            options.pop(key, None)  # accepted as Celery's apply() accepts them; meaningless here
        message = self._message(
            tuple(args or ()),
            dict(kwargs or {}),
            task_id=task_id,
            link=link,
            link_error=link_error,
            retries=retries,
            **{k: v for k, v in options.items() if k in CALL_OPTIONS},
        )
        return apply_eagerly(self, message, throw=throw)

    # -- inside a task -------------------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The context of the invocation running now (a direct call's outside a worker)."""
        return current_request()

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """
        Retry the task: the same id runs again later with ``retries + 1``.

        Raises ``Retry`` (with ``throw=False`` returns it: the body goes on, its return
        value is dropped, and the task is retried when it returns). Without `countdown` or
        `eta` it waits ``default_retry_delay``. `max_retries` overrides the task's (None:
        the task's). Past the limit it re-raises the exception being handled (or `exc`) when
        `exc` is given, else ``MaxRetriesExceededError``. `args`/`kwargs` replace the
        arguments of the next attempt; ``queue`` and ``priority`` its place in the queue.
        Called directly (not by a worker or ``apply``) there is nothing to retry: it
        re-raises `exc`.
        """
        if isinstance(args, BaseException) and exc is None:
            # ``self.retry(exc, countdown=10)``, as the guide's render_scene writes it.
            args, exc = None, args
        request = self.request
        if request.called_directly or request.task != self.name:
            # Celery: a direct call has no message to retry; re-raise what happened.
            if sys.exc_info()[1] is not None:
                raise  # noqa: PLE0704 - re-raise the exception being handled, as Celery does
            if exc is not None:
                raise exc
            raise Retry("Task can be retried", None)
        retries = request.retries + 1
        limit = self.options.max_retries if max_retries is None else max_retries
        if limit is not None and retries > limit:
            if exc is not None:
                current = sys.exc_info()[1]
                if current is not None and not isinstance(current, Retry):
                    raise  # noqa: PLE0704 - the original exception, with its traceback
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{tuple(request.args)} "
                f"kwargs:{request.kwargs}"
            )
        _check_call_options(self.name, "retry()", options, RETRY_OPTIONS)
        if eta is None and countdown is None:
            countdown = self.options.default_retry_delay
        when = _eta(self.name, countdown, eta) or timezone.now()
        if "priority" in options:
            _check_priority(self.name, options["priority"])
        ret = Retry(exc=exc, when=eta if eta is not None else countdown)
        ret.eta = when
        ret.retries = retries
        ret.options = options
        ret.args_override = tuple(args) if args is not None else None
        ret.kwargs_override = dict(kwargs) if kwargs is not None else None
        if args is not None or kwargs is not None:
            encode_call(
                self.name,
                tuple(args or request.args),
                dict(kwargs if kwargs is not None else request.kwargs),
            )
        from .trace import note_retry

        note_retry(ret)
        if throw:
            raise ret
        return ret

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None
    ) -> None:
        """
        Set a custom state (e.g. "PROGRESS") and meta for the running task.

        Visible at once to ``AsyncResult`` in any process (inside an ``atomic()`` block of
        the task's own, at its commit). The worker replaces it when the task finishes, unless
        the task raises ``Ignore``. Eagerly or called directly there is no row to update.
        """
        from .broker import get_broker
        from .serialization import encode_result

        request = self.request
        task_id = task_id or request.id
        if task_id is None:
            return
        state = state or "PENDING"
        if not isinstance(state, str) or not state or len(state) > 50:
            raise ValueError(
                f"Task {self.name!r}: state must be a name of 1 to 50 characters, not {state!r}."
            )
        meta = encode_result(self.name, meta)
        if request.stored or task_id != request.id:
            get_broker(request.using).update_state(task_id, state, meta)

    def AsyncResult(self, task_id: str):  # noqa: N802 - Celery's name
        """A result handle for `task_id` of this task."""
        from .result import AsyncResult

        return AsyncResult(task_id, task_name=self.name)

    # -- canvas --------------------------------------------------------------------------------

    def s(self, *args: Any, **kwargs: Any):
        """A signature of this task with these arguments (``add.s(2, 2)``)."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs)

    def si(self, *args: Any, **kwargs: Any):
        """An immutable signature: a chain or link does not prepend the previous result."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs, immutable=True)

    def signature(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """A signature with call options (``add.signature((2, 2), countdown=10)``)."""
        from .canvas import Signature

        immutable = bool(options.pop("immutable", False))
        return Signature(
            self.name, tuple(args or ()), kwargs or {}, options=options, immutable=immutable
        )

    subtask = signature

    def chunks(self, it, n: int):
        """Split calls over `it` into messages of `n` calls each (a group)."""
        from .canvas import chunks

        return chunks(self, it, n)

    def map(self, it):
        """A group with one call of this task per item of `it`."""
        from .canvas import group

        return group(self.s(*(a if isinstance(a, list | tuple) else (a,))) for a in it)

    def enqueue_many(self, calls, *, on_commit: bool | None = None, **options: Any) -> list:
        """
        Enqueue many calls in one statement per batch; return their ``AsyncResult``s.

        `calls` yields ``(args, kwargs)`` pairs (or args tuples). Every call is checked as
        ``apply_async`` checks one, before anything is written.
        """
        from .result import AsyncResult

        _check_call_options(self.name, "enqueue_many()", options, CALL_OPTIONS)
        if options.get("task_id"):
            raise TypeError(
                f"Task {self.name!r}: enqueue_many() gives each call its own id; "
                "task_id is not an option here."
            )
        messages: list[Message] = []
        first: Message | None = None
        typing, names = self.options.typing, self._param_names()
        for call in calls:
            if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], dict):
                args, kwargs = tuple(call[0]), dict(call[1])
            else:
                args, kwargs = tuple(call), {}
            if first is None:
                # The options are the same for every call: checked and resolved once.
                first = self._message(args, kwargs, **options)
                messages.append(first)
                continue
            if typing:
                self._check_signature(args, kwargs)
            messages.append(
                Message(
                    id=new_task_id(),
                    name=first.name,
                    args=args,
                    kwargs=kwargs,
                    wire=encode_call_text(self.name, args, kwargs, names),
                    queue=first.queue,
                    priority=first.priority,
                    retries=first.retries,
                    eta=first.eta,
                    expires=first.expires,
                    options=first.options,
                )
            )
        using = options.get("using") or conf.get("DATABASE")
        send_many(messages, using, on_commit)
        return [AsyncResult(m.id, task_name=self.name, using=using) for m in messages]

    # -- handlers (Celery's signatures) ----------------------------------------------------------

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        """Run by the worker when the task succeeded (after its result is final)."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        """Run by the worker when the task failed; `einfo` holds the traceback."""

    def on_retry(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        """Run by the worker when the task is to be retried; `exc` is retry()'s `exc`."""

    def after_return(
        self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        """
        Run by the worker after on_success/on_failure: `status` is SUCCESS or FAILURE.

        As in Celery, not run for RETRY, IGNORED and REJECTED. `retval` is the return
        value or the exception; `einfo` the ``ExceptionInfo`` of a failure, else None.
        """

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

    where = f"{fun.__module__}.{fun.__name__}"
    if not (isinstance(base, type) and issubclass(base, Task)):
        raise TypeError(f"Task {where!r}: base= must be a Task subclass, not {base!r}.")
    _check_option_names(options.get("name") or where, set(options))
    name = (
        options.pop("name", None)
        or base.__dict__.get("name")
        or (f"{canonical_module(fun.__module__)}.{fun.__name__}")
    )
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ImproperlyConfigured(
            f"Task {where!r} option 'name' must be a string of 1 to 200 characters, not {name!r}."
        )
    bind = options.pop("bind", False)
    if not isinstance(bind, bool):
        raise ImproperlyConfigured(
            f"Task {name!r} option 'bind' must be True or False, not {bind!r}."
        )
    options.pop("shared", None)
    run = fun if bind else staticmethod(fun)
    attrs = {
        "name": name,
        "run": run,
        "_orig_run": fun,
        "abstract": False,
        "bind": bind,
        "__doc__": fun.__doc__,
        "__module__": fun.__module__,
        "__wrapped__": fun,
        "__qualname__": fun.__qualname__,
        **options,
    }
    cls = type(fun.__name__, (base,), attrs)
    task = cls()
    task.app = app
    _resolve(task)  # validate now: bad options fail at import
    registered = app.tasks.register(task)
    if registered is task:
        conf._on_change.append(task._drop_options)
    return registered


def _unknown(given, allowed) -> str | None:
    """The unknown names in `given`, each with its closest allowed name; None if none."""
    unknown = sorted(set(given) - allowed)
    if not unknown:
        return None
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    return ", ".join(hints)


def _check_option_names(name: str, given: set[str]) -> None:
    hints = _unknown(given, TASK_OPTIONS)
    if hints:
        raise TypeError(f"Task {name!r}: unknown option {hints}.")


def _check_call_options(name: str, call: str, given: dict[str, Any], allowed) -> None:
    hints = _unknown(given, allowed)
    if hints:
        raise TypeError(f"Task {name!r}: {call} got unknown option {hints}.")


def _resolve(task: Task) -> TaskOptions:
    """Validate `task`'s options and resolve them (settings read now)."""
    name = task.name

    def bad(key: str, what: str, value: Any) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"Task {name!r} option {key!r} must be {what}, not {value!r}.")

    raw_rate = task.rate_limit
    try:
        rate = parse_rate(raw_rate)
    except (TypeError, ValueError):
        raise bad(
            "rate_limit",
            "a rate like '10/s', '100/m', '1000/h' or a number of tasks per second",
            raw_rate,
        ) from None
    if conf.get("DISABLE_RATE_LIMITS"):
        rate = None
    if task.serializer != "json":
        raise bad("serializer", "'json' (the only serializer)", task.serializer)
    time_limit, soft = task.time_limit, task.soft_time_limit
    for key, value in (("time_limit", time_limit), ("soft_time_limit", soft)):
        if value is not None:
            _check_seconds(name, key, value, ImproperlyConfigured)
    if time_limit and soft and soft >= time_limit:
        raise ImproperlyConfigured(
            f"Task {name!r}: soft_time_limit ({soft!r}) must be below time_limit ({time_limit!r})."
        )
    max_retries = task.max_retries
    if max_retries is not None and (
        not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0
    ):
        raise bad("max_retries", "an integer >= 0 or None (retry forever)", max_retries)
    delay = task.default_retry_delay
    if not _is_number(delay) or delay < 0:
        raise bad("default_retry_delay", "seconds >= 0", delay)
    priority = task.priority
    _check_priority(name, priority, ImproperlyConfigured)
    for key in ("throws", "autoretry_for"):
        value = getattr(task, key)
        if not isinstance(value, tuple | list) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in value
        ):
            raise bad(key, "a tuple of exception classes", value)
    queue = task.queue
    if not isinstance(queue, str) or not queue or len(queue) > 100:
        raise bad("queue", "a queue name of 1 to 100 characters", queue)
    expires = task.expires
    if (
        expires is not None
        and not isinstance(expires, datetime)
        and (not _is_number(expires) or expires < 0)
    ):
        raise bad("expires", "seconds >= 0, an aware datetime or None", expires)
    retry_kwargs = task.retry_kwargs
    if not isinstance(retry_kwargs, dict) or set(retry_kwargs) - RETRY_KWARGS:
        raise bad(
            "retry_kwargs",
            "a dict with keys among " + ", ".join(sorted(RETRY_KWARGS)),
            retry_kwargs,
        )
    backoff = task.retry_backoff
    if not (isinstance(backoff, bool) or (_is_number(backoff) and backoff >= 0)):
        raise bad("retry_backoff", "True, False or a factor in seconds", backoff)
    backoff_max = task.retry_backoff_max
    if not _is_number(backoff_max) or backoff_max <= 0:
        raise bad("retry_backoff_max", "seconds > 0", backoff_max)
    flags = {}
    for key in (
        "ignore_result",
        "store_errors_even_if_ignored",
        "send_error_emails",
        "acks_late",
        "track_started",
        "retry_jitter",
        "typing",
    ):
        value = getattr(task, key)
        if value is None:
            value = False
        if not isinstance(value, bool):
            raise bad(key, "True or False", value)
        flags[key] = value
    return TaskOptions(
        max_retries=max_retries,
        default_retry_delay=delay,
        rate_limit=rate,
        time_limit=time_limit,
        soft_time_limit=soft,
        throws=tuple(task.throws),
        queue=queue,
        priority=priority,
        expires=expires,
        autoretry_for=tuple(task.autoretry_for),
        retry_kwargs=dict(retry_kwargs),
        retry_backoff=backoff,
        retry_backoff_max=backoff_max,
        **flags,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_seconds(name: str, key: str, value: Any, error: type[Exception]) -> None:
    if not _is_number(value) or value <= 0:
        if error is ImproperlyConfigured:
            raise error(f"Task {name!r} option {key!r} must be seconds > 0, not {value!r}.")
        raise error(f"Task {name!r}: {key} must be seconds > 0, not {value!r}.")


def _check_priority(name: str, priority: Any, error: type[Exception] = ValueError) -> None:
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise error(f"Task {name!r}: priority must be an integer from 0 to 9, not {priority!r}.")


def _eta(name: str, countdown: Any, eta: Any) -> datetime | None:
    if countdown is not None and eta is not None:
        raise ValueError(f"Task {name!r}: give countdown or eta, not both.")
    if countdown is not None:
        if not _is_number(countdown):
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


def _expires(name: str, expires: Any) -> datetime | None:
    if expires is None:
        return None
    if _is_number(expires):
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
