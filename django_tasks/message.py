"""The value a worker receives: one task invocation as the queue stores it."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .serialization import dumps


@dataclass(frozen=True, slots=True)
class Message:
    """One task invocation as the queue stores it: all a worker needs to run it."""

    id: str
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    retries: int = 0
    eta: datetime | None = None
    expires: datetime | None = None
    #: Options the sender chose that the worker needs (acks_late, time limits, links, chain,
    #: group, parent, headers, max_retries); see ``Task.apply_async``.
    options: dict[str, Any] = field(default_factory=dict)
    #: Was this message delivered before (its worker died while holding it)?
    redelivered: bool = False
    #: Its position in the claiming worker's sequence (set by ``claim``).
    claim_seq: int = 0
    #: The JSON text of (args, kwargs) when the sender encoded them already (bulk enqueue):
    #: the queue stores it as is, and ``args``/``kwargs`` are the values as given.
    wire: tuple[str, str] | None = None

    def wire_args(self) -> tuple[str, str]:
        """The JSON text of args and kwargs, as the queue stores them."""
        if self.wire is not None:
            return self.wire
        return dumps(list(self.args)), dumps(self.kwargs)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message after its body ran: the row's next state and its data."""

    id: str
    state: str
    result: Any = None
    exc_type: str = ""
    exc_message: str = ""
    traceback: str = ""
    #: For RETRY: when to run again, the retry count and any overridden queue/priority.
    eta: datetime | None = None
    retries: int = 0
    queue: str | None = None
    priority: int | None = None
    #: Messages to enqueue in the same transaction that records this outcome (chains, links).
    follow_ups: tuple[Message, ...] = ()
    #: For RETRY: new arguments when ``retry(args=..., kwargs=...)`` gave them.
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str = ""
    #: Delete the row instead of recording the outcome (``ignore_result``, ``replace()``):
    #: the message is acknowledged and gone, as in Celery; follow-ups are written after.
    forget: bool = False


def new_task_id() -> str:
    """
    A new task id: a UUID (version 7) whose first 48 bits are the time in milliseconds.

    Same text form as Celery's uuid4 ids, but ordered by creation: new rows land at the end
    of the primary-key index instead of on a random page of it, so enqueueing, claiming and
    finishing stay as cheap beside millions of finished rows as in an empty table.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
