"""The process-wide ``App``: the task decorator and the registry of tasks by name."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .exceptions import NotRegistered

logger = logging.getLogger(__name__)


class TaskRegistry(Mapping):
    """Task name -> task instance. ``registry["nope"]`` raises ``NotRegistered``."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}
        #: (source file, qualname) -> name: the same function imported under two module
        #: paths must stay one task.
        self._sources: dict[tuple[str, str], str] = {}

    def __getitem__(self, name: str):
        try:
            return self._tasks[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._tasks), n=5, cutoff=0.6)
            hint = f" Close names: {', '.join(map(repr, close))}." if close else ""
            raise NotRegistered(
                f"No task is registered as {name!r}.{hint} Is its module imported (an "
                "installed app's tasks module or DJANGO_TASKS['IMPORTS'])?"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def register(self, task: Any) -> Any:
        """Add `task` under its name; return the task that now owns the name."""
        name = task.name
        source = _source_of(task)
        existing = self._tasks.get(name)
        if existing is not None:
            if source is not None and _source_of(existing) == source:
                # The same function imported twice (reloaded, or under two module paths
                # with one explicit name): one task.
                return existing
            raise ImproperlyConfigured(
                f"Task name {name!r} is used by {_where(existing)} and {_where(task)}; "
                "set name= on one."
            )
        if source is not None and source in self._sources:
            first = self._sources[source]
            raise ImproperlyConfigured(
                f"Task function {_where(task)} is imported under two module paths, as "
                f"{first!r} and {name!r}: use one import path (the relative-import pitfall), "
                f"or give it an explicit name, e.g. name={first!r}."
            )
        self._tasks[name] = task
        if source is not None:
            self._sources[source] = name
        return task

    def unregister(self, name: str) -> None:
        task = self._tasks.pop(name)
        source = _source_of(task)
        if source is not None:
            self._sources.pop(source, None)


def _source_of(task: Any) -> tuple[str, str] | None:
    fun = getattr(task, "_orig_run", None)
    if fun is None:
        return None
    try:
        path = inspect.getsourcefile(fun) or ""
    except TypeError:
        return None
    return (os.path.realpath(path), fun.__qualname__) if path else None


def _where(task: Any) -> str:
    fun = getattr(task, "_orig_run", None)
    if fun is not None:
        return f"{fun.__module__}.{fun.__qualname__}"
    return f"{type(task).__module__}.{type(task).__qualname__}"


def canonical_module(module: str) -> str:
    """
    Return the module path Django's app registry would import `module` under.

    ``project.blog.tasks`` and ``blog.tasks`` name one file when both are on sys.path; the
    installed app's dotted name decides, so every process names the task the same.
    """
    mod = importlib.sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path:
        return module
    try:
        from django.apps import apps

        configs = list(apps.get_app_configs()) if apps.apps_ready else []
    except Exception:  # the app registry is not ready yet: keep the module path
        return module
    real = os.path.realpath(path)
    for config in configs:
        root = os.path.realpath(config.path)
        if real.startswith(root + os.sep):
            rel = os.path.relpath(real, root)
            parts = rel[: -len(".py")].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join([config.name, *parts])
    return module


class App:
    """The process-wide task application: ``app.task`` decorates, ``app.tasks`` looks up."""

    def __init__(self) -> None:
        self.tasks = TaskRegistry()
        self._discovered = False

    def task(self, *args: Any, **options: Any) -> Any:
        """
        Turn a function into a task; usable bare (``@app.task``) or with options.

        Options are Celery's task options (``name, bind, base, max_retries, ...``); unknown
        options and bad values raise at decoration, naming the task.
        """
        from .task import Task, create_task

        if len(args) == 1 and callable(args[0]) and not options:
            return create_task(self, args[0], Task, {})
        if args:
            raise TypeError("app.task() takes only keyword options, e.g. @app.task(bind=True).")

        def decorator(fun: Callable) -> Any:
            base = options.pop("base", None) or Task
            return create_task(self, fun, base, options)

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
        from .result import AsyncResult

        return AsyncResult(task_id, **kwargs)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any):
        """Enqueue a task by name (it need not be importable here)."""
        from . import conf
        from .canvas import Signature
        from .result import AsyncResult
        from .task import send_many

        on_commit = options.pop("on_commit", None)
        using = options.pop("using", None) or conf.get("DATABASE")
        message = Signature(name, tuple(args or ()), kwargs or {}, options=options).to_message()
        send_many([message], using, on_commit)
        return AsyncResult(message.id, task_name=name, using=using)


app = App()
