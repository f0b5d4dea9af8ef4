"""
``DjangoTaskAdapter``: one of our Tasks that runs a ``django.tasks`` Task's function.

The worker runs every message through ``trace``. A row written by ``DatabaseBackend`` names
a Django task, so the backend adapts it (one adapter per function and option set) and
``trace`` gives it what an ``@app.task`` task gets: retries with backoff, time and rate
limits, acks_late, the attempt history. The adapter adds Django's part: the ``TaskContext``,
``task_started`` and ``task_finished``, JSON-normal return values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.tasks import TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json

from ..options import resolve
from ..task import Task

# BaseException class -> its stand-in (see _as_exception).
_STAND_INS: dict[type[BaseException], type[Exception]] = {}


class DjangoTaskAdapter(Task):
    """Runs a Django task's function under our trace; built by ``build_adapter``."""

    abstract = True

    #: The Django task's function, and whether it takes a ``TaskContext`` first.
    django_func: Callable[..., Any]
    takes_context: bool = False
    #: The ``DatabaseBackend`` that built it: it reads the row for the ``TaskResult``.
    backend: Any = None

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """
        Call the Django task (a coroutine function runs in an event loop, as ``Task.call``).

        ``task_started`` is sent first, with the row's result (RUNNING, this attempt
        counted); a ``takes_context`` task receives it in its ``TaskContext``.
        """
        task_id = self.request.id
        result = self.backend.get_result(task_id)
        self._running[task_id] = result
        task_started.send(sender=type(self.backend), task_result=result)
        if self.takes_context:
            args = (TaskContext(task_result=result), *args)
        try:
            return normalize_json(result.task.call(*args, **kwargs))
        except (Exception, KeyboardInterrupt):
            raise
        except BaseException as exc:
            raise _as_exception(exc) from None

    # -- handlers: task_finished once the last attempt ended ------------------------------------

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        result = self._running.get(task_id)
        if result is not None:
            object.__setattr__(result, "_return_value", retval)
            self._finished(result, TaskResultStatus.SUCCESSFUL)

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        result = self._running.get(task_id)
        if result is not None:
            cls = type(exc)
            result.errors.append(
                TaskError(
                    exception_class_path=f"{cls.__module__}.{cls.__qualname__}",
                    traceback=einfo.traceback,
                )
            )
            self._finished(result, TaskResultStatus.FAILED)

    def after_return(
        self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        self._running.pop(task_id, None)

    def _finished(self, result: TaskResult, status: TaskResultStatus) -> None:
        # Sent by the worker as the attempt ends, before its outcome is written (outcomes are
        # written in batches): the result passed is the one to read.
        object.__setattr__(result, "status", status)
        object.__setattr__(result, "finished_at", timezone.now())
        task_finished.send(sender=type(self.backend), task_result=result)

    # -- enqueue-time checks against the Django function's own signature -------------------------

    def _signature(self) -> inspect.Signature:
        sig = inspect.signature(self.django_func)
        if self.takes_context:  # the worker passes the context; callers do not
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
        return sig

    def _param_names(self) -> list[str] | None:
        try:
            params = self._signature().parameters.values()
        except (TypeError, ValueError):
            return None
        return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def _check_signature(self, args: tuple, kwargs: dict) -> None:
        try:
            sig = self._signature()
        except (TypeError, ValueError):
            return
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"Task {self.name!r} called with bad arguments: {exc}.") from None

    def __repr__(self) -> str:
        return f"<@django.tasks task: {self.name}>"


def build_adapter(
    backend: Any, name: str, func: Callable[..., Any], takes_context: bool, options: dict[str, Any]
) -> DjangoTaskAdapter:
    """
    Build the adapter that runs `func` as task `name` with Celery's `options`.

    ``max_retries`` other than 0 retries on any exception (Celery's ``autoretry_for``),
    backing off as ``retry_backoff`` says. The adapter is never registered in ``app.tasks``:
    the backend finds it by the message.
    """
    attrs = {
        "name": name,
        "abstract": False,
        "_orig_run": func,
        "__module__": func.__module__,
        "__doc__": func.__doc__,
        **options,
        "autoretry_for": (Exception,) if options["max_retries"] != 0 else (),
        # Django's API reports RUNNING and started_at: the worker records the start (an ack
        # row update) for Django tasks, as track_started does for ours.
        "track_started": True,
    }
    cls = type(func.__name__, (DjangoTaskAdapter,), attrs)
    adapter = cls()
    adapter.django_func = func
    adapter.takes_context = takes_context
    adapter.backend = backend
    adapter._running = {}  # task id -> its TaskResult while the body runs
    resolve(adapter)  # validated by the backend already; this only fills TaskOptions
    return adapter


def _as_exception(exc: BaseException) -> Exception:
    """
    An Exception that stands in for `exc`, a BaseException such as ``SystemExit``.

    ``trace`` records what an Exception does; a BaseException would end the worker process
    and, acks early, fail the task as a lost worker. Django's backends record a task's
    ``SystemExit`` as its failure, so the stand-in carries the original's module, name,
    arguments and traceback: the row's error reads ``SystemExit`` as it should.
    """
    cls = type(exc)
    stand_in = _STAND_INS.get(cls)
    if stand_in is None:
        stand_in = type(
            cls.__name__,
            (Exception,),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
        _STAND_INS[cls] = stand_in
    return stand_in(*exc.args).with_traceback(exc.__traceback__)
