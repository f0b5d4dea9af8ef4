"""The registry of tasks by name, the name a task function gets, and message resolvers."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .exceptions import NotRegistered
from .hints import close_names
from .message import Message

#: A resolver returns the task that runs a message it owns (e.g. a ``django.tasks`` row),
#: or None to leave the message to the registry's names.
Resolver = Callable[[Message], Any]


class TaskRegistry(Mapping):
    """Task name -> task instance. ``registry["nope"]`` raises ``NotRegistered``."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}
        self._resolvers: list[Resolver] = []
        #: Class-based tasks not instantiated yet: name -> (class, build). Built at first
        #: lookup, as Celery does, so a task's __init__ may refer to its own class by name.
        self._pending: dict[str, tuple[type, Callable[[], Any]]] = {}
        #: (source file, qualname, first line) -> name: the same function imported under
        #: two module paths must stay one task.
        self._sources: dict[tuple[str, str, int], str] = {}

    def __getitem__(self, name: str):
        if name in self._pending:
            self._build(name)
        try:
            return self._tasks[name]
        except KeyError:
            raise NotRegistered(self._missing(name)) from None

    def _missing(self, name: str) -> str:
        name = str(name)
        tail = "." + name.rsplit(".", 1)[-1]
        # A name that differs only by its package prefix is the relative-import pitfall.
        same_tail = [n for n in self._tasks if n.endswith(tail) or name.endswith("." + n)]
        close = close_names(name, self._tasks)
        hints = list(dict.fromkeys([*same_tail, *close]))[:5]
        hint = f" Close names: {', '.join(map(repr, hints))}." if hints else ""
        return (
            f"No task is registered as {name!r}.{hint} Is its module imported (an "
            "installed app's tasks module or DJANGO_TASKS['IMPORTS'])?"
        )

    def get(self, name: str, default: Any = None) -> Any:
        """The task registered as `name`, or `default` (no hint is computed)."""
        if name in self._pending:
            self._build(name)
        return self._tasks.get(name, default)

    def __iter__(self) -> Iterator[str]:
        self._build_all()
        return iter(self._tasks)

    def __len__(self) -> int:
        self._build_all()
        return len(self._tasks)

    def __repr__(self) -> str:
        self._build_all()
        return repr(self._tasks)

    def defer(self, cls: type, build: Callable[[], Any]) -> None:
        """
        Register the class-based task `cls`, to be instantiated by `build` at first lookup.

        Name conflicts are reported now, at import, as ``register`` reports them. A class
        that later turns out to be a base (subclassed, or ``base=``) is ``withdraw``n.
        """
        name = cls.name
        if name in self._pending:
            first = self._pending[name][0]
            if first is cls or _same_function(_function_of(first), _function_of(cls)):
                return
            raise _name_conflict(name, first, cls)
        existing = self._tasks.get(name)
        if existing is not None and not _same_function(_function_of(existing), _function_of(cls)):
            raise _name_conflict(name, existing, cls)
        if existing is None:
            self._pending[name] = (cls, build)

    def withdraw(self, cls: type) -> None:
        """`cls` is a base class of other tasks, not a task of its own: forget it if pending."""
        for name, (pending, _) in list(self._pending.items()):
            if pending is cls:
                del self._pending[name]

    def _build(self, name: str) -> None:
        _, build = self._pending.pop(name)
        build()

    def _build_all(self) -> None:
        for name in list(self._pending):
            if name in self._pending:
                self._build(name)

    def register(self, task: Any) -> Any:
        """
        Add `task` under its name; return the task that now owns the name.

        The same function registered again (a module imported twice under one name, or
        under two names that map to one task name) stays one task: the first one is
        returned. Two different functions under one name, or one function under two
        names, raise ``ImproperlyConfigured`` saying which name to use.
        """
        name = task.name
        if name in self._pending and self._pending[name][0] is not type(task):
            self._build(name)  # a deferred class owns the name: compare with it
        fun = _function_of(task)
        source = _source_key(fun)
        existing = self._tasks.get(name)
        if existing is not None:
            if _same_function(_function_of(existing), fun):
                return existing
            raise _name_conflict(name, existing, task)
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

    def add_resolver(self, resolver: Resolver) -> None:
        """
        Let `resolver` find the task for the messages it owns, before names are looked up.

        The ``django.tasks`` backend registers one: its rows name a Django task by module
        path, which it adapts into one of our tasks. Adding the same resolver twice is one.
        """
        if resolver not in self._resolvers:
            self._resolvers.append(resolver)

    def for_message(self, message: Message) -> Any:
        """The task that runs `message`: a resolver's, else the one registered by its name."""
        for resolver in self._resolvers:
            task = resolver(message)
            if task is not None:
                return task
        return self[message.name]

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


def _name_conflict(name: str, first: Any, second: Any) -> ImproperlyConfigured:
    """The error for two different tasks (or task classes) under one name."""
    return ImproperlyConfigured(
        f"Task name {name!r} is used by {_where(first)} and {_where(second)}; set name= on one."
    )


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


#: The process-wide registry (``app.tasks``): the only mutable state besides ``app``.
tasks = TaskRegistry()
