"""``self.request``: the context of the task invocation running now."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """What a running task knows about its own invocation (Celery's ``Task.request``)."""

    #: The task id (the same across retries).
    id: str | None = None
    #: The task name.
    task: str | None = None
    #: Positional and keyword arguments, as decoded from JSON.
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: How many times this task was retried: 0 on the first attempt.
    retries: int = 0
    #: Run locally by ``apply()`` or ``ALWAYS_EAGER``, not by a worker.
    is_eager: bool = False
    #: When this attempt was due (an aware datetime), if it had an eta or countdown.
    eta: datetime | None = None
    #: When the task expires, if it does.
    expires: datetime | None = None
    #: The host name of the worker running the task (``runtasks -n``).
    hostname: str | None = None
    #: ``{"queue": ..., "priority": ..., "redelivered": bool}``.
    delivery_info: dict[str, Any] = field(default_factory=dict)
    #: Called as a function (``add(2, 2)``), not by a worker or ``apply()``.
    called_directly: bool = True
    #: The ``link`` and ``link_error`` signatures (dicts), or None.
    callbacks: list[dict[str, Any]] | None = None
    errback: list[dict[str, Any]] | None = None
    #: Headers given to ``apply_async(headers=...)``.
    headers: dict[str, Any] | None = None
    #: The id of the group this task belongs to, if any.
    group: str | None = None
    #: The signatures of the chain still to run after this task, next first.
    chain: list[dict[str, Any]] | None = None
    #: The chord callback (a signature dict) this task is a header member of, if any.
    chord: dict[str, Any] | None = None
    #: The task whose success or failure sent this one, and the first task of the workflow.
    parent_id: str | None = None
    root_id: str | None = None
    #: (hard, soft) time limits the sender set for this call (None: the task's or worker's).
    timelimit: tuple[float | None, float | None] = (None, None)
    #: Does this invocation have a row the broker can update (a worker, not eager/direct)?
    stored: bool = False
    #: The database alias holding the row.
    using: str | None = None
    #: Attributes set with ``update()`` that are not fields above (Celery's Context allows any).
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only called when no field or property has `name`: a value set by update().
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.extra[name]
        except KeyError:
            raise AttributeError(f"'Request' object has no attribute {name!r}") from None

    def update(self, *args: Any, **kwargs: Any) -> None:
        """
        Set attributes of the running invocation's request (Celery's ``Context.update``).

        The request is a frozen value: the current one is replaced, so ``self.request``
        reads the new values for the rest of this invocation only.
        """
        values = dict(*args, **kwargs)
        names = _FIELD_NAMES
        known = {k: v for k, v in values.items() if k in names and k != "extra"}
        extra = {**self.extra, **{k: v for k, v in values.items() if k not in names}}
        new = replace(self, **known, extra=extra)
        stack = _current.get()
        if stack and stack[-1] is self:
            _current.set((*stack[:-1], new))

    @property
    def errbacks(self) -> list[dict[str, Any]] | None:
        """Celery 4's name for ``errback``."""
        return self.errback

    @property
    def correlation_id(self) -> str | None:
        """The task id (Celery uses it to match replies; here it is always the id)."""
        return self.id

    @property
    def reply_to(self) -> None:
        """Always None: results are rows, not reply queues."""
        return None

    @property
    def utc(self) -> bool:
        """Are ``eta`` and ``expires`` aware UTC datetimes (``USE_TZ``)?"""
        from django.conf import settings

        return bool(settings.USE_TZ)

    def get(self, key: str, default: Any = None) -> Any:
        """The field `key`, or `default` when there is no such field (Celery's Context.get)."""
        return getattr(self, key, default)


_FIELD_NAMES = frozenset(f.name for f in fields(Request))
_DIRECT = Request()
_current: ContextVar[tuple[Request, ...]] = ContextVar("django_tasks_request", default=())


def current_request() -> Request:
    """The innermost running invocation's request (a direct call's when none runs)."""
    stack = _current.get()
    return stack[-1] if stack else _DIRECT


def push(request: Request):
    """Make `request` current; return a token for ``pop``."""
    return _current.set((*_current.get(), request))


def pop(token) -> None:
    _current.reset(token)


def in_worker_task() -> bool:
    """Is a task body running under a worker (not eagerly, not called directly) right now?"""
    return any(r.stored for r in _current.get())
