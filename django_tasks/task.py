"""The ``Task`` class: options, calling (delay/apply_async/apply), retry and update_state."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from . import conf, eager
from .canvas import Signature, chain, chunks, group
from .exceptions import MaxRetriesExceededError, Replaced, Retry
from .log import get_task_logger
from .options import (
    CALL_OPTIONS,
    RETRY_OPTIONS,
    FromSettings,
    TaskOptions,
    check_call_options,
    check_priority,
    check_task_option_names,
    due_time,
    resolve,
)
from .registry import canonical_module
from .registry import tasks as registry
from .request import Request, current_request, pop, push
from .result import AsyncResult
from .sending import build_many, build_message, send
from .serialization import encode_call, encode_result
from .trace import note_retry

logger = logging.getLogger(__name__)

_UNSET = object()


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
    #: Celery's "keep track of children": accepted; children are always found by parent_id.
    trail: bool = True
    #: Celery's "requeue when the worker process dies" for acks_late tasks: here an
    #: acks_late task is always delivered again when its worker dies (as True); acks early
    #: tasks never are.
    reject_on_worker_lost: bool | None = None

    _orig_run: Callable | None = None
    _options: TaskOptions | None = None
    #: The app this task belongs to (set to ``django_tasks.app`` by the app module).
    app: Any = None
    #: Does the class define its own ``__call__``? Then the worker calls the task, not run.
    custom_call: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """
        Register a concrete class-based task (one defining ``run`` without ``abstract``).

        As in Celery, ``abstract`` is read from the class body only: a subclass that does
        not say ``abstract = True`` is a task, named ``<module>.<ClassName>``. Its options
        are checked now; its one instance is built at first use (as Celery does), so its
        ``__init__`` may name its own class. A class that others subclass is a base class,
        not a task: it is never registered and lends its name to none of them.
        """
        super().__init_subclass__(**kwargs)
        cls.custom_call = cls.__call__ is not Task.__call__
        for parent in cls.__mro__[1:]:
            if parent is not Task and issubclass(parent, Task):
                registry.withdraw(parent)
        if "_orig_run" in cls.__dict__ or cls.__dict__.get("abstract", False):
            return
        if "run" not in cls.__dict__:
            cls.abstract = True
            return
        cls.abstract = False
        if not cls.__dict__.get("name"):
            cls.name = f"{canonical_module(cls.__module__)}.{cls.__name__}"
        cls._orig_run = cls.__dict__["run"]
        resolve(cls)  # bad options fail at import, before any instance exists
        registry.defer(cls, lambda: _register(cls()))

    def get_logger(self, **kwargs: Any):
        """This task's logger (Celery's ``Task.get_logger``): records carry name and id."""
        return get_task_logger(self.name)

    # -- options -------------------------------------------------------------------------------

    @property
    def options(self) -> TaskOptions:
        """The resolved options (settings read once, dropped when DJANGO_TASKS changes)."""
        if self._options is None:
            self._options = resolve(self)
        return self._options

    def _drop_options(self) -> None:
        self._options = None

    # -- calling -------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body inline in this process (``request.called_directly`` is true)."""
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
        message = build_message(
            self,
            args,
            kwargs,
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
        if eager.is_eager():
            return eager.apply_eagerly(self, message)
        using = options.get("using") or conf.get("DATABASE")
        send([message], using=using, on_commit=on_commit)
        return AsyncResult(message.id, task_name=self.name, using=using)

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
        for key in ("logfile", "loglevel", "countdown", "eta", "expires"):
            options.pop(key, None)  # accepted as Celery's apply() accepts them; meaningless here
        message = build_message(
            self,
            args,
            kwargs,
            call="apply()",
            task_id=task_id,
            link=link,
            link_error=link_error,
            retries=retries,
            **{k: v for k, v in options.items() if k in CALL_OPTIONS},
        )
        return eager.apply_eagerly(self, message, throw=throw)

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
        check_call_options(self.name, "retry()", options, RETRY_OPTIONS)
        if eta is None and countdown is None:
            countdown = self.options.default_retry_delay
        when = due_time(self.name, countdown, eta) or timezone.now()
        if "priority" in options:
            check_priority(self.name, options["priority"])
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
        note_retry(ret)
        if throw:
            raise ret
        return ret

    def replace(self, sig: Any) -> Replaced:
        """
        Replace this task with `sig` (a signature or a chain), which inherits its id.

        As in Celery: the replacement takes over this task's id, its links and the rest of
        its chain, so ``AsyncResult(self.request.id)`` ends with the replacement's result.
        Raises ``Replaced`` (an ``Ignore``): nothing is recorded for this run; the worker
        enqueues the replacement in the same transaction that lets go of this task's row.
        """
        request = self.request
        if request.called_directly or request.id is None:
            raise RuntimeError(
                f"Task {self.name!r}: replace() needs a running task (a worker or apply()), "
                "not a direct call."
            )
        steps = list(sig.tasks) if isinstance(sig, chain) else [sig]
        if not steps or not all(isinstance(s, Signature) for s in steps):
            raise TypeError(
                f"Task {self.name!r}: replace() takes a signature or a chain of signatures, "
                f"not {sig!r}."
            )
        inherited: dict[str, Any] = {"task_id": request.id, "root_id": request.root_id}
        if request.parent_id:
            inherited["parent_id"] = request.parent_id
        if request.callbacks:
            inherited["link"] = request.callbacks
        if request.errback:
            inherited["link_error"] = request.errback
        if request.group:
            inherited["group_id"] = request.group
        if request.headers:
            inherited["headers"] = request.headers
        last = steps[-1].clone(**inherited)
        rest = [dict(s) for s in [*steps[1:-1], last]] if len(steps) > 1 else []
        rest += list(request.chain or [])
        first = last if len(steps) == 1 else steps[0]
        options = {"chain": rest} if rest else {}
        if len(steps) > 1:
            options["root_id"] = request.root_id
        raise Replaced([first.to_message(**options)])

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
        return AsyncResult(task_id, task_name=self.name)

    # -- canvas --------------------------------------------------------------------------------

    def s(self, *args: Any, **kwargs: Any):
        """A signature of this task with these arguments (``add.s(2, 2)``)."""
        return Signature(self.name, args, kwargs)

    def si(self, *args: Any, **kwargs: Any):
        """An immutable signature: a chain or link does not prepend the previous result."""
        return Signature(self.name, args, kwargs, immutable=True)

    def signature(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """A signature with call options (``add.signature((2, 2), countdown=10)``)."""
        immutable = bool(options.pop("immutable", False))
        return Signature(
            self.name, tuple(args or ()), kwargs or {}, options=options, immutable=immutable
        )

    subtask = signature

    def chunks(self, it, n: int):
        """Split calls over `it` into messages of `n` calls each (a group)."""
        return chunks(self, it, n)

    def map(self, it):
        """A group with one call of this task per item of `it`."""
        return group(self.s(*(a if isinstance(a, list | tuple) else (a,))) for a in it)

    def enqueue_many(self, calls, *, on_commit: bool | None = None, **options: Any) -> list:
        """
        Enqueue many calls in one statement per batch; return their ``AsyncResult``s.

        `calls` yields ``(args, kwargs)`` pairs (or args tuples). Every call is checked as
        ``apply_async`` checks one, before anything is written.
        """
        messages = build_many(self, calls, **options)
        using = options.get("using") or conf.get("DATABASE")
        send(messages, using=using, on_commit=on_commit)
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


class _CurrentTask:
    """
    ``current_task``: the task whose body runs now in this thread, or a false value.

    Celery's proxy: attribute access goes to the running task (``current_task.request.id``);
    outside a task body ``bool(current_task)`` is False and attribute access raises.
    """

    __slots__ = ()

    def _get_current_object(self) -> Task | None:
        request = current_request()
        if request.task is None:
            return None
        return registry.get(request.task)

    def __bool__(self) -> bool:
        return self._get_current_object() is not None

    def __getattr__(self, name: str) -> Any:
        task = self._get_current_object()
        if task is None:
            raise AttributeError(f"No task is running here, so current_task has no {name!r}.")
        return getattr(task, name)

    def __eq__(self, other: object) -> bool:
        return self._get_current_object() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._get_current_object())


current_task = _CurrentTask()


# -- decoration ---------------------------------------------------------------------------------


def create_task(app, fun: Callable, base: type[Task], options: dict[str, Any]) -> Task:
    """Build the task class for `fun` (a subclass of `base`), validate, register one instance."""
    where = f"{fun.__module__}.{fun.__name__}"
    if not (isinstance(base, type) and issubclass(base, Task)):
        raise TypeError(f"Task {where!r}: base= must be a Task subclass, not {base!r}.")
    check_task_option_names(options.get("name") or where, set(options))
    # The name is the function's, never the base class's (a base lends its name to none).
    name = options.pop("name", None) or f"{canonical_module(fun.__module__)}.{fun.__name__}"
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
        "__name__": fun.__name__,
        "__doc__": fun.__doc__,
        "__module__": fun.__module__,
        "__wrapped__": fun,
        "__qualname__": fun.__qualname__,
        **options,
    }
    cls = type(fun.__name__, (base,), attrs)
    registry.withdraw(base)  # a class-based task used as base= is a base, not a task
    task = cls()
    task.app = app
    return _register(task)


def _register(task: Task) -> Task:
    """Validate `task`'s options and register it; return the task that owns its name."""
    resolve(task)  # validate now: bad options fail at import
    registered = registry.register(task)
    if registered is task:
        conf.on_change(task._drop_options)
    return registered
