"""
``DatabaseBackend``: Django's ``django.tasks`` API over django_tasks' queue tables.

Django's words are translated once, here: ``run_after`` -> ``eta``, Django's priority
(-100..100) -> ours (0..9, ``to_queue_priority``), our states -> ``TaskResultStatus``, our
attempt rows -> ``TaskResult.errors`` and ``worker_ids``. ``enqueue`` writes the row
``delay()`` writes; ``runtasks`` runs it through a ``DjangoTaskAdapter`` (``adapter.py``).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.tasks import Task, TaskResult, TaskResultStatus, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from .. import conf, options, states
from ..exceptions import NotRegistered
from ..hints import closest
from ..message import Message, new_task_id
from ..options import QUEUE_MAX_LENGTH
from ..registry import tasks as registry
from ..sending import build_message, send
from ..serialization import revive
from .adapter import DjangoTaskAdapter, build_adapter


class _Unset:
    """The value of an option ``@task`` was not given: the backend's OPTIONS decide."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"  # pickles as this module's singleton


UNSET: Any = _Unset()

#: Celery's task options a Django task takes, with their defaults for Django tasks. On
#: Django 6.1+ they are ``@task`` keywords; on any version the backend's OPTIONS set them for
#: all its tasks. ``None`` defers to DJANGO_TASKS (TIME_LIMIT, ACKS_LATE, ...), as on
#: ``@app.task``.
OPTION_DEFAULTS: dict[str, Any] = {
    # Django's contract is that a failure is final: retries are asked for, not given.
    "max_retries": 0,
    "default_retry_delay": 180,
    # A Django task has no self.retry() to choose a countdown, so retries back off.
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "time_limit": None,
    "soft_time_limit": None,
    "rate_limit": None,
    "acks_late": None,
    "expires": None,
}
#: OPTIONS keys that configure the backend itself, with their defaults.
BACKEND_OPTION_DEFAULTS: dict[str, Any] = {"on_commit": True}


def _problems(values: dict[str, Any], where: Callable[[str], str]) -> list[str]:
    """
    Say what is wrong with `values` by the one option table; `where(key)` names each.

    ``None`` means "not set here" for the options DJANGO_TASKS can decide (acks_late, the
    limits), and OPTIONS ``on_commit`` is the backend's own.
    """
    checked = {
        k: v
        for k, v in values.items()
        if k != "on_commit" and not (v is None and k in ("acks_late", "rate_limit", "expires"))
    }
    found = options.problems(checked, where)
    if "on_commit" in values and not isinstance(values["on_commit"], bool):
        found.append(f"{where('on_commit')} must be True or False, not {values['on_commit']!r}.")
    return found


def to_queue_priority(priority: int) -> int:
    """
    Map Django's priority (-100..100, default 0) onto the queue's (0..9, higher first).

    Order is kept and so is the default's place: -100..-1 -> 0..3 (25 apart), 0 -> 4,
    1..100 -> 5..9 (20 apart). Priorities that share a level run oldest first.
    """
    if priority < 0:
        return (priority + 100) * 4 // 100
    if priority == 0:
        return 4
    return 5 + (priority - 1) * 5 // 100


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseTask(Task):
    """
    A ``django.tasks`` Task that also takes Celery's task options (the backend's task_class).

    On Django 6.1+, ``@task(max_retries=3, time_limit=30)`` sets them, with ``@app.task``'s
    meaning; an option not given takes the backend's OPTIONS, then ``OPTION_DEFAULTS``.
    """

    #: Retries after an exception (with backoff); None retries forever. Default 0.
    max_retries: int | None = UNSET
    #: Seconds between retries when retry_backoff is False. Default 180.
    default_retry_delay: float = UNSET
    #: Exponential backoff between retries: True (1 s first) or the first delay in seconds.
    retry_backoff: int | bool = UNSET
    #: The longest backoff delay in seconds. Default 600.
    retry_backoff_max: int = UNSET
    #: Randomise backoff delays (full jitter). Default True.
    retry_jitter: bool = UNSET
    #: Hard limit in seconds: the worker process is killed and replaced (TIME_LIMIT).
    time_limit: float | None = UNSET
    #: Soft limit in seconds: SoftTimeLimitExceeded is raised inside the task.
    soft_time_limit: float | None = UNSET
    #: Per worker process: "10/s", "100/m", "1000/h" or an int per second.
    rate_limit: str | int | None = UNSET
    #: Acknowledge after the body ran: run again if its worker dies mid-run (ACKS_LATE).
    acks_late: bool | None = UNSET
    #: Seconds after enqueue past which the task is revoked unrun.
    expires: float | None = UNSET


_STATUS = {
    states.PENDING: TaskResultStatus.READY,
    states.RETRY: TaskResultStatus.READY,
    states.SUCCESS: TaskResultStatus.SUCCESSFUL,
    # Ignore: the task asked that nothing more be recorded; it did not fail.
    states.IGNORED: TaskResultStatus.SUCCESSFUL,
    states.FAILURE: TaskResultStatus.FAILED,
    states.REVOKED: TaskResultStatus.FAILED,
    states.REJECTED: TaskResultStatus.FAILED,
}
_ROW = (
    "id",
    "name",
    "queue",
    "args",
    "kwargs",
    "state",
    "options",
    "retries",
    "result",
    "exc_type",
    "exc_message",
    "traceback",
    "worker",
    "created_at",
    "started_at",
    "done_at",
)
_ATTEMPT = ("number", "state", "worker", "started_at", "exc_type", "exc_message", "traceback")

# Adapters cache their resolved options; DJANGO_TASKS changing drops them all.
_adapters: weakref.WeakSet[DjangoTaskAdapter] = weakref.WeakSet()
conf.on_change(lambda: [a._drop_options() for a in list(_adapters)])


class DatabaseBackend(BaseTaskBackend):
    """
    Django's task backend over django_tasks' tables: ``manage.py runtasks`` runs its tasks.

    ``TASKS = {"default": {"BACKEND": "django_tasks.backends.DatabaseBackend", "QUEUES":
    [...], "OPTIONS": {...}}}``. OPTIONS: ``on_commit`` (default True) and any of
    ``OPTION_DEFAULTS`` as defaults for this backend's tasks.
    """

    task_class = DatabaseTask

    # Can a Task be enqueued with run_after? Yes: it becomes the row's eta.
    supports_defer = True
    # Can a coroutine function be a Task? Yes: the worker runs it in an event loop.
    supports_async_task = True
    # Can any thread or process read a result? Yes: the result is the row.
    supports_get_result = True
    # Do higher priorities run first? Yes, mapped onto the queue's 0..9.
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        # Bad OPTIONS are reported by check() and raised at first use, never here: Django
        # builds backends while running the checks.
        self._adapters: dict[tuple[str, bool, str], DjangoTaskAdapter] = {}

    # -- configuration -------------------------------------------------------------------------

    def _where(self, key: str) -> str:
        return f"TASKS[{self.alias!r}]['OPTIONS'][{key!r}]"

    def _options_problems(self) -> list[str]:
        if not isinstance(self.options, dict):
            return [f"TASKS[{self.alias!r}]['OPTIONS'] must be a dict, not {self.options!r}."]
        known = {**OPTION_DEFAULTS, **BACKEND_OPTION_DEFAULTS}
        found = []
        for key in self.options:
            if key not in known:
                close = closest(key, known)
                hint = f" Did you mean {close!r}?" if close else ""
                found.append(f"{self._where(key)} is not an option.{hint}")
        return found + _problems({k: v for k, v in self.options.items() if k in known}, self._where)

    @cached_property
    def _configured(self) -> dict[str, Any]:
        """OPTIONS over their defaults; the first problem raises ``ImproperlyConfigured``."""
        found = self._options_problems()
        if found:
            raise ImproperlyConfigured(found[0])
        return {**OPTION_DEFAULTS, **BACKEND_OPTION_DEFAULTS, **self.options}

    @property
    def on_commit(self) -> bool:
        """Is a row enqueued inside ``atomic()`` written when the transaction commits?"""
        return self._configured["on_commit"]

    def task_options(self, task: Task) -> dict[str, Any]:
        """
        The Celery options `task` runs with: its own, else OPTIONS, else OPTION_DEFAULTS.

        Raises ``InvalidTask`` naming the option when a task's value is bad, and
        ``ImproperlyConfigured`` when the backend's OPTIONS are.
        """
        name = task.module_path
        given = {k: getattr(task, k, UNSET) for k in OPTION_DEFAULTS}
        given = {k: v for k, v in given.items() if v is not UNSET}
        found = _problems(given, lambda key: f"Task {name!r} option {key!r}")
        if found:
            raise InvalidTask(found[0])
        configured = self._configured
        resolved = {**{k: configured[k] for k in OPTION_DEFAULTS}, **given}
        found = _problems(resolved, lambda key: f"Task {name!r} option {key!r}")
        if found:  # e.g. a task's soft_time_limit above the backend's time_limit
            raise InvalidTask(found[0])
        return resolved

    def validate_task(self, task: Task) -> None:
        """Django's checks, then the queue name's length and the Celery options."""
        super().validate_task(task)
        queue = task.queue_name
        if not isinstance(queue, str) or not 0 < len(queue) <= QUEUE_MAX_LENGTH:
            raise InvalidTask(
                f"Queue name must be 1 to {QUEUE_MAX_LENGTH} characters, not {queue!r}."
            )
        self.task_options(task)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Report what is wrong with this backend's TASKS entry (``manage.py check``)."""
        errors = list(super().check(**kwargs))
        if not apps.is_installed("django_tasks"):
            errors.append(
                checks.Error(
                    f"TASKS[{self.alias!r}] uses django_tasks.backends.DatabaseBackend, but "
                    "'django_tasks' is not in INSTALLED_APPS.",
                    hint="Add 'django_tasks' to INSTALLED_APPS and run migrate: its tables are "
                    "the queue.",
                    id="django_tasks.E102",
                )
            )
        for queue in sorted(self.queues, key=str):
            if not isinstance(queue, str) or not 0 < len(queue) <= QUEUE_MAX_LENGTH:
                errors.append(
                    checks.Error(
                        f"TASKS[{self.alias!r}]['QUEUES'] holds {queue!r}; a queue name must be "
                        f"a string of 1 to {QUEUE_MAX_LENGTH} characters.",
                        id="django_tasks.E103",
                    )
                )
        errors.extend(checks.Error(p, id="django_tasks.E104") for p in self._options_problems())
        return errors

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """
        Write `task` with these arguments as the PENDING row ``delay()`` would write.

        Inside ``transaction.atomic()`` the row is written when the transaction commits (a
        rollback enqueues nothing) unless OPTIONS ``on_commit`` is False; ``task_enqueued``
        is sent, and the result's ``enqueued_at`` set, when the row is written.
        """
        self.validate_task(task)
        options = self.task_options(task)
        self._check_importable(task)
        result = TaskResult(
            task=task,
            id=new_task_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )  # Django's own check: arguments must be JSON values (TypeError otherwise)
        adapter = self._adapter(task.module_path, task.func, task.takes_context, options)
        message = build_message(
            adapter,
            tuple(result.args),
            dict(result.kwargs),
            call="enqueue()",
            eta=task.run_after,
            queue=task.queue_name,
            priority=to_queue_priority(task.priority),
            task_id=result.id,
        )
        meta = {
            "backend": self.alias,
            "priority": task.priority,
            "takes_context": task.takes_context,
            "run_after": task.run_after.isoformat() if task.run_after else None,
            "options": options,
        }
        enqueued_at = []

        def stamp(messages: list[Message]) -> list[Message]:
            # The row keeps the enqueued_at this result reports, so get_result() agrees.
            enqueued_at.append(timezone.now())
            django = {**meta, "enqueued_at": enqueued_at[0].isoformat()}
            return [replace(m, options={**m.options, "django": django}) for m in messages]

        def written() -> None:
            object.__setattr__(result, "enqueued_at", enqueued_at[0])
            task_enqueued.send(type(self), task_result=result)

        send(
            [message],
            using=conf.get("DATABASE"),
            on_commit=self.on_commit,
            prepare=stamp,
            written=written,
        )
        return result

    @staticmethod
    def _check_importable(task: Task) -> None:
        # The worker finds the task by its module path, as Django's Task pickling does.
        path = task.module_path
        try:
            found = import_string(path)
        except ImportError:
            found = None
        if not isinstance(found, Task) or found.func is not task.func:
            raise InvalidTask(
                f"Task {path!r} cannot be imported from that path, so no worker could run "
                "it; define it with @task at module level, under its function's name."
            )

    # -- the worker's side -----------------------------------------------------------------------

    def _adapter(
        self, name: str, func: Callable, takes_context: bool, options: dict[str, Any]
    ) -> DjangoTaskAdapter:
        key = (name, takes_context, json.dumps(options, sort_keys=True))
        adapter = self._adapters.get(key)
        if adapter is None or adapter.django_func is not func:
            adapter = build_adapter(self, name, func, takes_context, options)
            self._adapters[key] = adapter
            _adapters.add(adapter)
        return adapter

    def worker_task(self, message: Message) -> DjangoTaskAdapter:
        """
        Return the task object that runs `message`, a row this backend wrote.

        The Django task is imported by the module path the message names and adapted into one
        of our Tasks with the options the message carries. Raises ``NotRegistered`` when the
        path does not name a Django task here.
        """
        meta = message.options.get("django") or {}
        refused = _import_refused(message.name)
        if refused:
            raise NotRegistered(refused)
        try:
            found = import_string(message.name)
        except ImportError as exc:
            raise NotRegistered(
                f"Task {message.name!r} (enqueued through django.tasks) cannot be imported: {exc}."
            ) from None
        if not isinstance(found, Task):
            raise NotRegistered(
                f"{message.name!r} (enqueued through django.tasks) is "
                f"{found!r}, not a django.tasks Task."
            )
        options = {**OPTION_DEFAULTS, **(meta.get("options") or {})}
        return self._adapter(message.name, found.func, bool(meta.get("takes_context")), options)

    # -- results -------------------------------------------------------------------------------

    def get_result(self, result_id: Any) -> TaskResult:
        """
        Read the result of the task with id `result_id` from its row and attempt history.

        Raises ``TaskResultDoesNotExist`` for an unknown id, and for a task enqueued with the
        Celery-style API (read those with ``AsyncResult``).
        """
        from ..models import TaskAttempt, TaskMessage

        result_id = str(result_id)
        using = conf.get("DATABASE")
        row = TaskMessage.objects.using(using).filter(id=result_id).values(*_ROW).first()
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        meta = (row["options"] or {}).get("django")
        if not isinstance(meta, dict):
            raise TaskResultDoesNotExist(
                f"{result_id} is a task of the Celery-style API ({row['name']}), not one "
                f"enqueued through django.tasks; read it with AsyncResult({result_id!r})."
            )
        attempts = list(
            TaskAttempt.objects.using(using)
            .filter(task_id=result_id)
            .order_by("number")
            .values(*_ATTEMPT)
        )
        return self._result(row, meta, attempts)

    def _result(
        self, row: dict[str, Any], meta: dict[str, Any], attempts: list[dict[str, Any]]
    ) -> TaskResult:
        state = row["state"]
        status = _STATUS.get(state) or (
            # Claimed, running, or a custom state from update_state: running once started.
            TaskResultStatus.RUNNING if row["started_at"] else TaskResultStatus.READY
        )
        current = row["retries"] + 1
        this_attempt_recorded = any(a["number"] == current for a in attempts)
        worker_ids = [a["worker"] for a in attempts]
        if (
            row["worker"]
            and row["started_at"]
            and not this_attempt_recorded
            and state not in states.CLAIMABLE_STATES
        ):
            worker_ids.append(row["worker"])
        errors = [_error(a) for a in attempts if a["exc_type"] and a["state"] != states.SUCCESS]
        if status == TaskResultStatus.FAILED and row["exc_type"] and not this_attempt_recorded:
            errors.append(_error(row))  # e.g. revoked: no attempt row was written
        # The row holds this attempt's start; earlier attempts' are in their attempt rows.
        earlier = [a for a in attempts if a["number"] < current]
        last_start = row["started_at"] or (attempts[-1]["started_at"] if attempts else None)
        first_start = (earlier[0]["started_at"] if earlier else None) or last_start
        result = TaskResult(
            task=self._task_of(row, meta),
            id=row["id"],
            status=status,
            enqueued_at=_datetime(meta.get("enqueued_at")) or row["created_at"],
            started_at=first_start,
            finished_at=row["done_at"]
            if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
            else None,
            last_attempted_at=last_start,
            args=revive(row["args"]) or [],
            kwargs=revive(row["kwargs"]) or {},
            backend=meta.get("backend") or self.alias,
            errors=errors,
            worker_ids=worker_ids,
        )
        if state == states.SUCCESS:
            object.__setattr__(result, "_return_value", revive(row["result"]))
        return result

    def _task_of(self, row: dict[str, Any], meta: dict[str, Any]) -> Task:
        """The Django task of a row, with the priority, queue and run_after it was sent with."""
        try:
            task = import_string(row["name"])
        except ImportError as exc:
            raise TaskResultDoesNotExist(
                f"{row['id']} is a result of task {row['name']!r}, which cannot be imported "
                f"here: {exc}."
            ) from None
        if not isinstance(task, Task):
            raise TaskResultDoesNotExist(
                f"{row['id']} is a result of {row['name']!r}, which is not a django.tasks "
                "Task here."
            )
        run_after = _datetime(meta.get("run_after"))
        try:
            return task.using(
                priority=meta.get("priority", task.priority),
                queue_name=row["queue"],
                run_after=run_after,
                backend=meta.get("backend") or self.alias,
            )
        except (InvalidTask, ImproperlyConfigured):
            # Settings changed since it was sent (a queue or backend gone): the task as defined.
            return task


def _error(row: dict[str, Any]) -> TaskError:
    exc_type = row["exc_type"]
    # Django imports the class by path; builtins are stored by bare name ("ValueError").
    path = exc_type if "." in exc_type else f"builtins.{exc_type}"
    return TaskError(
        exception_class_path=path,
        traceback=row["traceback"] or f"{exc_type}: {row['exc_message']}\n",
    )


def _datetime(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _import_refused(path: str) -> str:
    """
    Why the worker will not import the module of `path` (a row's task name), or "".

    A row names its Django task by module path, and importing a module runs its code: the
    worker imports only modules already loaded, modules of installed apps and those named
    in ``IMPORTS`` (and their submodules), never any module a row names.
    """
    import sys

    module = path.rpartition(".")[0]
    if not module or module in sys.modules:
        return ""
    allowed = [a.name for a in apps.get_app_configs()] + list(conf.get("IMPORTS") or ())
    if any(module == root or module.startswith(root + ".") for root in allowed):
        return ""
    return (
        f"Task {path!r} (enqueued through django.tasks) is in module {module!r}, which is "
        "neither loaded, nor part of an installed app, nor in DJANGO_TASKS['IMPORTS']: the "
        "worker does not import it."
    )


def task_for_message(message: Message) -> DjangoTaskAdapter | None:
    """
    The resolver registered with the app: the task that runs a row ``enqueue`` wrote.

    A row enqueued through ``django.tasks`` (``options["django"]``) names a Django task by
    module path; its backend adapts it into one of our tasks. Other rows are not ours: None.
    """
    meta = message.options.get("django")
    if meta is None:
        return None
    backend = task_backends[meta["backend"]]
    if not isinstance(backend, DatabaseBackend):
        raise NotRegistered(
            f"TASKS[{meta['backend']!r}] is not a django_tasks DatabaseBackend in this "
            f"worker, so it cannot run {message.name!r}."
        )
    return backend.worker_task(message)


registry.add_resolver(task_for_message)
