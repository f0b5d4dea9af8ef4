"""The process-wide ``App``: the task decorator and the registry of tasks by name."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .exceptions import NotRegistered

logger = logging.getLogger(__name__)


class TaskRegistry(Mapping):
    """Task name -> task instance. ``registry["nope"]`` raises ``NotRegistered``."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}
        #: (source file, qualname, first line) -> name: the same function imported under
        #: two module paths must stay one task.
        self._sources: dict[tuple[str, str, int], str] = {}

    def __getitem__(self, name: str):
        try:
            return self._tasks[name]
        except KeyError:
            raise NotRegistered(self._missing(name)) from None

    def _missing(self, name: str) -> str:
        name = str(name)
        tail = "." + name.rsplit(".", 1)[-1]
        # A name that differs only by its package prefix is the relative-import pitfall.
        same_tail = [n for n in self._tasks if n.endswith(tail) or name.endswith("." + n)]
        scored = sorted(
            ((difflib.SequenceMatcher(None, name, n).ratio(), n) for n in self._tasks), reverse=True
        )
        best = scored[0][0] if scored else 0.0
        close = [n for score, n in scored[:5] if score >= max(0.6, best - 0.05)]
        hints = list(dict.fromkeys([*same_tail, *close]))[:5]
        hint = f" Close names: {', '.join(map(repr, hints))}." if hints else ""
        return (
            f"No task is registered as {name!r}.{hint} Is its module imported (an "
            "installed app's tasks module or DJANGO_TASKS['IMPORTS'])?"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return repr(self._tasks)

    def register(self, task: Any) -> Any:
        """
        Add `task` under its name; return the task that now owns the name.

        The same function registered again (a module imported twice under one name, or
        under two names that map to one task name) stays one task: the first one is
        returned. Two different functions under one name, or one function under two
        names, raise ``ImproperlyConfigured`` saying which name to use.
        """
        name = task.name
        fun = _function_of(task)
        source = _source_key(fun)
        existing = self._tasks.get(name)
        if existing is not None:
            if _same_function(_function_of(existing), fun):
                return existing
            raise ImproperlyConfigured(
                f"Task name {name!r} is used by {_where(existing)} and {_where(task)}; "
                "set name= on one."
            )
        first = self._sources.get(source) if source is not None else None
        prev = _function_of(self._tasks[first]) if first in self._tasks else None
        if prev is not None and prev is not fun and _same_function(prev, fun):
            raise ImproperlyConfigured(
                f"Task function {_where(task)} is imported under two module paths, as "
                f"{first!r} and {name!r}: import it one way only (the path of its installed "
                f"app, the relative-import pitfall), or give it an explicit name, e.g. "
                f"name={first!r}."
            )
        self._tasks[name] = task
        if source is not None:
            self._sources.setdefault(source, name)
        return task

    def unregister(self, name: str) -> None:
        """Remove the task registered as `name` (``NotRegistered`` if there is none)."""
        task = self[name]
        del self._tasks[name]
        source = _source_key(_function_of(task))
        if source is not None and self._sources.get(source) == name:
            del self._sources[source]


def _function_of(task: Any) -> Callable | None:
    """The task's body as written: the decorated function (or ``run``), unwrapped."""
    fun = getattr(task, "_orig_run", None)
    if fun is None:
        return None
    try:
        return inspect.unwrap(fun)
    except ValueError:  # a __wrapped__ cycle
        return fun


def _source_key(fun: Callable | None) -> tuple[str, str, int] | None:
    code = getattr(fun, "__code__", None)
    if code is None:
        return None
    return (os.path.realpath(code.co_filename), fun.__qualname__, code.co_firstlineno)


def _same_function(a: Callable | None, b: Callable | None) -> bool:
    """
    Are `a` and `b` one function, possibly imported twice under two module names?

    One file executed as two modules gives two code objects with the same file, qualname
    and line; two closures of one factory share a single code object and are two tasks.
    """
    if a is None or b is None:
        return False
    if a is b:
        return True
    key = _source_key(a)
    return key is not None and key == _source_key(b) and a.__code__ is not b.__code__


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
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path:
        return module
    try:
        from django.apps import apps

        configs = list(apps.get_app_configs()) if apps.apps_ready else []
    except Exception:  # the app registry is not ready yet: keep the module path
        return module
    real = os.path.realpath(path)
    best = None
    for config in configs:
        root = os.path.realpath(config.path)
        if real.startswith(root + os.sep) and (best is None or len(root) > len(best[0])):
            best = (root, config.name)
    if best is None:
        return module
    rel = os.path.relpath(real, best[0])
    parts = rel[: -len(".py")].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([best[1], *parts])


class App:
    """The process-wide task application: ``app.task`` decorates, ``app.tasks`` looks up."""

    def __init__(self) -> None:
        self.tasks = TaskRegistry()
        self._discovered = False

    @property
    def Task(self):  # noqa: N802 - Celery's name: ``class MyTask(app.Task)``
        """The base class of tasks (``django_tasks.Task``)."""
        from .task import Task

        return Task

    @property
    def conf(self):
        """``DJANGO_TASKS`` read-only, by its keys or Celery's setting names."""
        from .conf import settings_view

        return settings_view

    @property
    def log(self):
        """Logging helpers: ``get_task_logger``, ``redirect_stdouts_to_logger``."""
        from . import log

        return log

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
        from .result import AsyncResult

        return AsyncResult(task_id, **kwargs)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any):
        """Enqueue a task by name (it need not be importable here)."""
        from . import conf
        from .canvas import Signature
        from .result import AsyncResult
        from .task import CALL_OPTIONS, _check_call_options, send_many

        _check_call_options(name, "send_task()", options, CALL_OPTIONS)
        on_commit = options.pop("on_commit", None)
        using = options.pop("using", None) or conf.get("DATABASE")
        message = Signature(name, tuple(args or ()), kwargs or {}, options=options).to_message()
        send_many([message], using, on_commit)
        return AsyncResult(message.id, task_name=name, using=using)


app = App()
