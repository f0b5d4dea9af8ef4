"""Every exception django_tasks raises, Celery's names and bases kept."""

from __future__ import annotations

from typing import Any


class DjangoTasksError(Exception):
    """Base class for django_tasks exceptions. Do not raise directly."""


class EncodeError(DjangoTasksError, TypeError):
    """An argument or result cannot be encoded as JSON."""


class DecodeError(DjangoTasksError, ValueError):
    """A stored message cannot be decoded."""


class NotRegistered(DjangoTasksError, KeyError):
    """No task is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "NotRegistered"


class Retry(DjangoTasksError):
    """The task is to be retried (raised by ``Task.retry``)."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | None = None,
        when: Any = None,
        **kwargs: Any,
    ) -> None:
        self.message = message
        self.exc = exc
        self.when = when
        super().__init__(message, exc, when)

    def humanize(self) -> str:
        if self.when is None:
            return "now"
        return f"at {self.when}" if not isinstance(self.when, int | float) else f"in {self.when}s"

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.exc is not None:
            return f"Retry {self.humanize()}: {self.exc!r}"
        return f"Retry {self.humanize()}"

    def __reduce__(self):
        return self.__class__, (self.message, self.exc, self.when)


#: Celery 3.0's name for ``Retry``, still importable in Celery 3.1.
RetryTaskError = Retry


class Ignore(DjangoTasksError):
    """The worker records nothing further for this task."""


class Replaced(Ignore):
    """
    The task replaced itself (``Task.replace``): the replacement runs under its id.

    Raised by ``replace()``; the worker enqueues `messages` (the last one carries this
    task's id) in the transaction that lets go of this task's row.
    """

    def __init__(self, messages: Any = ()) -> None:
        super().__init__("Replaced by new task")
        self.messages = tuple(messages)


class Reject(DjangoTasksError):
    """The task refuses the message: requeue it, or end it REJECTED."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"


class MaxRetriesExceededError(DjangoTasksError):
    """The task asked to retry past its ``max_retries``."""


class SoftTimeLimitExceeded(DjangoTasksError):
    """The task ran past its soft time limit (raised inside the task)."""


class TimeLimitExceeded(DjangoTasksError):
    """The task ran past its hard time limit and its process was killed."""


class WorkerLostError(DjangoTasksError):
    """The worker process running the task died."""


class TaskRevokedError(DjangoTasksError):
    """The task was revoked (or expired) and did not run to the end."""


class ChordError(DjangoTasksError):
    """A chord's callback cannot run: a member of its header did not succeed."""


class TimeoutError(DjangoTasksError):  # noqa: A001 - Celery's name
    """``AsyncResult.get`` waited longer than its timeout."""


class TaskError(DjangoTasksError):
    """A task failed with an exception that cannot be rebuilt here; carries its name."""

    def __init__(self, exc_type: str, message: str) -> None:
        self.exc_type = exc_type
        self.message = message
        super().__init__(exc_type, message)

    def __str__(self) -> str:
        return f"{self.exc_type}: {self.message}"


class ImproperlyUsed(DjangoTasksError, RuntimeError):
    """A call made where it cannot work (waiting on a subtask inside a task)."""
