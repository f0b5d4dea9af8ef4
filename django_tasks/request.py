"""``self.request``: the context of the task invocation running now."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """What a running task knows about its own invocation (Celery's ``Task.request``)."""

    id: str | None = None
    task: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    is_eager: bool = False
    eta: datetime | None = None
    expires: datetime | None = None
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    called_directly: bool = True
    callbacks: list[dict[str, Any]] | None = None
    errback: list[dict[str, Any]] | None = None
    headers: dict[str, Any] | None = None
    group: str | None = None
    chain: list[dict[str, Any]] | None = None
    parent_id: str | None = None
    root_id: str | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    #: Does this invocation have a row the broker can update (a worker, not eager/direct)?
    stored: bool = False
    #: The database alias holding the row.
    using: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


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
