"""The process-wide ``App``: the task decorator, the registry of tasks, sending by name."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from . import log
from .canvas import send_by_name
from .conf import settings_view
from .registry import tasks as registry
from .result import AsyncResult
from .task import Task, create_task

logger = logging.getLogger(__name__)


class App:
    """The process-wide task application: ``app.task`` decorates, ``app.tasks`` looks up."""

    def __init__(self) -> None:
        self.tasks = registry
        self._discovered = False

    @property
    def Task(self):  # noqa: N802 - Celery's name: ``class MyTask(app.Task)``
        """The base class of tasks (``django_tasks.Task``)."""
        return Task

    @property
    def conf(self):
        """``DJANGO_TASKS`` read-only, by its keys or Celery's setting names."""
        return settings_view

    @property
    def log(self):
        """Logging helpers: ``get_task_logger``, ``redirect_stdouts_to_logger``."""
        return log

    def task(self, *args: Any, **options: Any) -> Any:
        """
        Turn a function into a task; usable bare (``@app.task``) or with options.

        Options are Celery's task options (``name, bind, base, max_retries, ...``); unknown
        options and bad values raise at decoration, naming the task.
        """
        if len(args) == 1 and callable(args[0]) and not options:
            return create_task(self, args[0], Task, {})
        if args:
            raise TypeError("app.task() takes only keyword options, e.g. @app.task(bind=True).")

        def decorator(fun: Callable) -> Any:
            opts = dict(options)
            base = opts.pop("base", None) or Task
            return create_task(self, fun, base, opts)

        return decorator

    def autodiscover(self) -> None:
        """Import each installed app's ``tasks`` module and ``DJANGO_TASKS['IMPORTS']``."""
        from django.conf import settings
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
        # Read raw: a bad DJANGO_TASKS is reported by the system checks, not here.
        raw = getattr(settings, "DJANGO_TASKS", {})
        imports = raw.get("IMPORTS", []) if isinstance(raw, dict) else []
        for module in imports if isinstance(imports, list | tuple) else []:
            importlib.import_module(module)
        self._discovered = True

    def get(self, name: str) -> Any:
        return self.tasks[name]

    def AsyncResult(self, task_id: str, **kwargs: Any):  # noqa: N802 - Celery's name
        """A result handle for `task_id`."""
        return AsyncResult(task_id, **kwargs)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any):
        """Enqueue a task by name (it need not be importable here); never run eagerly."""
        return send_by_name(name, args, kwargs, **options)


app = App()
# Tasks built before any app existed (class-based ones at import) belong to this one.
Task.app = app
