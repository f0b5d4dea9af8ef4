"""``AsyncResult``: a handle on a task's state and result, readable from any process."""

from __future__ import annotations

import time
from typing import Any

from . import conf, states
from .exceptions import ImproperlyUsed, TaskError, TaskRevokedError, TimeoutError
from .request import in_worker_task
from .serialization import rebuild_exception, revive

_FIELDS = (
    "name",
    "state",
    "result",
    "exc_type",
    "exc_message",
    "traceback",
    "retries",
    "done_at",
    "worker",
)


class AsyncResult:
    """
    The state and result of the task with id `id`, read from the database on each access.

    An id that was never enqueued (or whose transaction has not committed yet) reads PENDING,
    as in Celery.
    """

    def __init__(
        self,
        id: str,
        task_name: str | None = None,
        using: str | None = None,  # noqa: A002
        parent: AsyncResult | None = None,
        app: Any = None,
    ) -> None:
        self.id = str(id)
        self._task_name = task_name
        self.using = using
        self.parent = parent
        self._cache: dict[str, Any] | None = None

    task_id = property(lambda self: self.id)

    def _row(self) -> dict[str, Any] | None:
        if self._cache is not None:
            return self._cache
        from .models import TaskMessage

        using = self.using or conf.get("DATABASE")
        row = TaskMessage.objects.using(using).filter(id=self.id).values(*_FIELDS).first()
        if row is not None and row["result"] is not None:
            row["result"] = revive(row["result"])  # the stored type markers, as values
        if row is not None and row["state"] in states.FINISHED_STATES:
            self._cache = row  # a finished task's result does not change (until requeued)
        return row

    @property
    def children(self) -> list[AsyncResult]:
        """
        The tasks this task sent (a chain's next task, link callbacks, tasks it called),
        oldest first: the rows whose parent is this task.
        """
        from .models import TaskMessage

        rows = (
            TaskMessage.objects.using(self.using or conf.get("DATABASE"))
            .filter(parent_id=self.id)
            .order_by("created_at", "id")
            .values_list("id", "name")
        )
        return [AsyncResult(i, task_name=n, using=self.using) for i, n in rows]

    def _forget_cache(self) -> None:
        self._cache = None

    @property
    def state(self) -> str:
        """
        The task's state: PENDING until a row says more, as in Celery.

        A task that raised ``Ignore`` recorded no state: it reads PENDING (or the custom
        state it set itself); one with ``ignore_result`` keeps no row once it finished.
        """
        row = self._row()
        if row is None or row["state"] == states.IGNORED:
            return states.PENDING
        return row["state"]

    status = state

    @property
    def name(self) -> str | None:
        row = self._row()
        return row["name"] if row else self._task_name

    @property
    def result(self) -> Any:
        """
        The return value, the exception of a failure or retry, or a custom state's meta.

        While STARTED (``track_started``) it is ``{"pid": ..., "hostname": ...}`` of the
        worker process running the task, as in Celery.
        """
        row = self._row()
        if row is None:
            return None
        if row["state"] == states.STARTED and row["result"] is None and row["worker"]:
            return self._worker_meta(row["worker"])
        return _value(row)

    def _worker_meta(self, worker: str) -> dict[str, Any]:
        from .models import Worker

        using = self.using or conf.get("DATABASE")
        found = Worker.objects.using(using).filter(name=worker).values("hostname", "pid").first()
        if found is not None:
            return {"pid": found["pid"], "hostname": found["hostname"]}
        # The worker row is gone (it stopped meanwhile): its name is "<hostname>.<pid>".
        hostname, _, pid = worker.rpartition(".")
        digits = pid.split("-")[0]
        return {"pid": int(digits) if digits.isdigit() else None, "hostname": hostname or worker}

    info = result

    @property
    def traceback(self) -> str | None:
        row = self._row()
        return (row["traceback"] or None) if row else None

    @property
    def retries(self) -> int:
        row = self._row()
        return row["retries"] if row else 0

    @property
    def date_done(self):
        row = self._row()
        return row["done_at"] if row else None

    def ready(self) -> bool:
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.1,
        disable_sync_subtasks: bool = True,
        **kwargs: Any,
    ) -> Any:
        """
        Wait until the task is ready and return its result.

        A FAILURE re-raises the task's exception (same class when it can be rebuilt, else
        ``TaskError``); REVOKED raises ``TaskRevokedError``. Raises ``TimeoutError`` after
        `timeout` seconds. Inside a running task this raises, unless
        ``disable_sync_subtasks=False``: waiting on a subtask can deadlock the worker.
        """
        if disable_sync_subtasks and in_worker_task():
            from .request import current_request

            raise ImproperlyUsed(
                f"Task {current_request().task!r} called result.get() on task {self.id}: "
                "waiting for a subtask inside a task can deadlock the worker; use a chain "
                "(or pass disable_sync_subtasks=False)."
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self._row()
            if row is not None and row["state"] in states.FINISHED_STATES:
                break  # REJECTED and IGNORED end the wait too (Celery would wait forever)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"The operation timed out waiting for task {self.id} after {timeout}s."
                )
            time.sleep(interval)
        value = _value(row)
        if propagate and row["state"] in states.PROPAGATE_STATES:
            raise _raisable(value, self.id)
        return value

    wait = get

    def maybe_throw(self) -> None:
        if self.state in states.PROPAGATE_STATES:
            raise _raisable(self.result, self.id)

    def revoke(self, terminate: bool = False, signal: Any = None, **kwargs: Any) -> int:
        """Stop the task: a waiting one never runs; with `terminate` a running one is killed."""
        from .broker import get_broker

        self._forget_cache()
        return get_broker(self.using).revoke([self.id], terminate=terminate)

    def forget(self) -> None:
        """Delete a finished task's row (its result and history)."""
        from .broker import get_broker

        get_broker(self.using).delete_finished([self.id])
        self._forget_cache()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"


def _raisable(value: Any, task_id: str) -> BaseException:
    if isinstance(value, BaseException):
        return value
    return TaskError(
        "FAILURE",
        f"Task {task_id} failed; its error was not stored "
        "(ignore_result without store_errors_even_if_ignored).",
    )


def _value(row: dict[str, Any]) -> Any:
    state = row["state"]
    if state in (states.FAILURE, states.RETRY) and not row["exc_type"] and not row["result"]:
        return None  # the error was not stored (ignore_result)
    if state in (states.FAILURE, states.RETRY):
        data = row["result"] if isinstance(row["result"], dict) else {}
        return rebuild_exception(
            row["exc_type"] or data.get("exc_type") or "Exception",
            data.get("exc_args"),
            row["exc_message"],
        )
    if state == states.REVOKED:
        return TaskRevokedError(row["exc_message"] or "revoked")
    if state == states.REJECTED:
        return row["exc_message"] or None
    return row["result"]


class EagerResult(AsyncResult):
    """The result of a task run locally by ``apply()`` (or ``ALWAYS_EAGER``)."""

    def __init__(self, id: str, outcome: Any, task_name: str | None = None) -> None:  # noqa: A002
        super().__init__(id, task_name=task_name)
        self._outcome = outcome
        self._children: list[EagerResult] = []
        self._cache = {
            "name": task_name,
            "state": outcome.state,
            "result": outcome.result,
            "exc_type": outcome.exc_type,
            "exc_message": outcome.exc_message,
            "traceback": outcome.traceback,
            "retries": outcome.retries,
            "done_at": outcome.finished_at,
            "worker": outcome.worker,
        }

    def _row(self) -> dict[str, Any]:
        return self._cache

    @property
    def children(self) -> list[EagerResult]:
        """The results of the follow-ups (chain, links) that ran here after this one."""
        return self._children

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> Any:
        value = _value(self._cache)
        if propagate and self.state in states.PROPAGATE_STATES:
            raise _raisable(value, self.id)
        return value

    def revoke(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"


class GroupResult:
    """The results of a group, in the order its signatures were given."""

    def __init__(self, id: str, results: list[AsyncResult]) -> None:  # noqa: A002
        self.id = id
        self.results = list(results)

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        return any(r.failed() for r in self.results)

    def completed_count(self) -> int:
        return sum(1 for r in self.results if r.successful())

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> list:
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for r in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(r.get(timeout=left, propagate=propagate, **kwargs))
        return values

    join = get

    def revoke(self, terminate: bool = False) -> int:
        from .broker import get_broker

        return get_broker().revoke([r.id for r in self.results], terminate=terminate)

    @classmethod
    def restore(cls, group_id: str, using: str | None = None) -> GroupResult:
        """Rebuild a group's result from its rows (members in their original order)."""
        from .models import TaskMessage

        rows = (
            TaskMessage.objects.using(using or conf.get("DATABASE"))
            .filter(group_id=group_id)
            .values_list("id", "name", "options")
        )
        ordered = sorted(
            rows, key=lambda r: ((r[2] or {}).get("headers") or {}).get("group_index", 0)
        )
        return cls(group_id, [AsyncResult(i, task_name=n, using=using) for i, n, _ in ordered])

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"
