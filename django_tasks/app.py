"""The process-wide ``App`` (and Celery's ``Celery`` for it): tasks, settings, discovery."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from . import conf, log
from .bootsteps import Steps
from .canvas import send_by_name
from .conf import settings_view
from .hints import unknown_names
from .registry import tasks as registry
from .result import AsyncResult
from .task import Task, create_task

logger = logging.getLogger(__name__)


class AppSignal(Signal):
    """
    One of the app's signals (``app.on_after_configure``...), connected as Celery's are.

    ``@app.on_after_configure.connect`` works as a decorator (with or without arguments)
    and keeps a strong reference: a handler defined in ``celery.py`` is never collected.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def connect(self, receiver: Any = None, sender: Any = None, weak: bool = False, **kw: Any):
        if receiver is None:
            return lambda fun: self.connect(fun, sender=sender, weak=weak, **kw)
        super().connect(receiver, sender=sender, weak=weak, **kw)
        return receiver

    def send_logged(self, sender: Any, **named: Any) -> None:
        """Send to every receiver; a receiver's error is logged, not raised (as in Celery)."""
        for receiver, result in self.send_robust(sender, **named):
            if isinstance(result, Exception):
                logger.error(
                    "signal %s receiver %r raised %r",
                    self.name,
                    receiver,
                    result,
                    exc_info=(type(result), result, result.__traceback__),
                )

    def __repr__(self) -> str:
        return f"<AppSignal: {self.name}>"


#: ``app.control`` methods of Celery's: what to use here instead.
_CONTROL_INSTEAD = {
    "inspect": "the admin lists tasks and workers (the TaskMessage and Worker pages)",
    "purge": "the admin's actions, or TaskMessage rows deleted in a migration or shell",
    "ping": "the admin's Worker page shows each worker's last heartbeat",
    "broadcast": "workers take no remote commands",
    "rate_limit": "set rate_limit on the task and restart the workers",
    "time_limit": "set time_limit on the task and restart the workers",
    "shutdown": "send SIGTERM to the runtasks process",
    "pool_grow": "runtasks --concurrency",
    "pool_shrink": "runtasks --concurrency",
    "autoscale": "runtasks --concurrency",
    "add_consumer": "runtasks -Q",
    "cancel_consumer": "runtasks -Q",
}


class Control:
    """``app.control``: ``revoke`` works (through the broker); the rest raise, naming it."""

    def revoke(
        self, task_id: Any, destination: Any = None, terminate: bool = False, **kwargs: Any
    ) -> int:
        """Revoke one task id or a list of them (``terminate=True`` kills a running one)."""
        from .broker import get_broker

        ids = [task_id] if isinstance(task_id, str) else [str(i) for i in task_id]
        return get_broker(conf.get("DATABASE")).revoke(ids, terminate=terminate)

    def terminate(self, task_id: Any, **kwargs: Any) -> int:
        """Revoke and kill (Celery's ``control.terminate``)."""
        return self.revoke(task_id, terminate=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        instead = _CONTROL_INSTEAD.get(name, "workers take no remote commands")
        raise NotImplementedError(
            f"app.control.{name} is not supported: {instead}; app.control.revoke(task_id) works."
        )


#: ``Celery(...)`` arguments that mean nothing here -> why (reported by manage.py check).
_IGNORED_ARGS = {
    "loader": "Django loads the settings and apps",
    "amqp": "there is no AMQP: the database is the broker",
    "events": "workers send no events",
    "log": "logging is Django's LOGGING",
    "control": "app.control.revoke is the only remote control",
    "fixups": "the Django integration is built in",
    "set_as_current": "there is one app per process",
    "autofinalize": "the app is finalized when Django's apps are ready",
    "strict_typing": "call signatures are checked by the TYPING setting",
    "tasks": "the registry is app.tasks",
    "backend": "results are rows of the task table",
    "broker": "the database is the broker",
    "result_backend": "results are rows of the task table",
}
_CELERY_ARGS = frozenset(
    {*_IGNORED_ARGS, "main", "include", "changes", "config_source", "namespace", "task_cls"}
)


class App:
    """The process-wide task application: ``app.task`` decorates, ``app.tasks`` looks up."""

    def __init__(self) -> None:
        self.tasks = registry
        self.main: str | None = None
        self._discovered = False
        self._include: list[str] = []
        self._namespace: str | None = None
        self._task_cls: type[Task] = Task
        #: (packages, related_name) of autodiscover_tasks() calls made before apps are ready.
        self._discover: list[tuple[Any, str | None]] = []
        self._configured_sent = False
        self.on_configure = AppSignal("app.on_configure")
        self.on_after_configure = AppSignal("app.on_after_configure")
        self.on_after_finalize = AppSignal("app.on_after_finalize")
        self.on_after_fork = AppSignal("app.on_after_fork")
        self.steps = Steps()
        self.control = Control()
        #: ``add_periodic_task`` entries: name -> Celery's entry dict (workers store them).
        self.periodic_entries: dict[str, dict[str, Any]] = {}

    @property
    def Task(self):  # noqa: N802 - Celery's name: ``class MyTask(app.Task)``
        """The base class of tasks (``django_tasks.Task``)."""
        return Task

    @property
    def conf(self):
        """The settings by their keys or Celery's names; ``app.conf.X = v`` overrides."""
        return settings_view

    @property
    def log(self):
        """Logging helpers: ``get_task_logger``, ``redirect_stdouts_to_logger``."""
        return log

    # -- Celery's app setup ------------------------------------------------------------------

    def _celery(self, main: str | None, kwargs: dict[str, Any]) -> App:
        """Apply ``Celery(main, **kwargs)`` to this app (there is one per process)."""
        settings = {k: v for k, v in kwargs.items() if k not in _CELERY_ARGS}
        bad = [k for k in settings if conf.celery_name(k, "CELERY") is None]
        bad = [k for k in bad if k not in conf.DEFAULTS]
        if bad:
            hints = unknown_names(bad, [*_CELERY_ARGS, *conf.CELERY_NAMES])
            raise TypeError(f"Celery() got unknown argument {hints}.")
        if main is not None:
            self.main = main
        for name, reason in _IGNORED_ARGS.items():
            if kwargs.get(name) is not None and name not in ("set_as_current", "autofinalize"):
                conf.note_ignored(f"Celery({name}={kwargs[name]!r})", reason)
        if kwargs.get("include"):
            include = kwargs["include"]
            self._include = [include] if isinstance(include, str) else list(include)
        if kwargs.get("namespace"):
            self._namespace = kwargs["namespace"]
        if kwargs.get("task_cls") is not None:
            self._task_cls = _task_class(kwargs["task_cls"])
        if kwargs.get("changes"):
            self.conf.update(kwargs["changes"])
        self.conf.update(settings)
        if kwargs.get("config_source") is not None:
            self.config_from_object(kwargs["config_source"])
        return self

    def config_from_object(
        self, obj: Any, silent: bool = False, force: bool = False, namespace: str | None = None
    ) -> None:
        """
        Read Celery's settings from `obj`, as Celery does; ``DJANGO_TASKS`` still wins.

        `obj` is ``"django.conf:settings"`` (with ``namespace="CELERY"``: ``CELERY_*``
        settings), a module path (``"proj.celeryconfig"``) or an object with attributes.
        Read lazily, on first use; ``on_after_configure`` is sent when the app is finalized.
        """
        conf.set_source(obj, namespace or self._namespace, silent=silent)
        self._configured_sent = False

    def config_from_envvar(self, variable_name: str, silent: bool = False, force: bool = False):
        """Read Celery's settings from the module named by environment `variable_name`."""
        module = os.environ.get(variable_name)
        if not module:
            if silent:
                return False
            raise ImproperlyConfigured(
                f"The environment variable {variable_name!r} is not set: it must name a module "
                "of Celery settings."
            )
        return self.config_from_object(module, silent=silent, force=force)

    def autodiscover_tasks(
        self, packages: Any = None, related_name: str | None = "tasks", force: bool = False
    ) -> None:
        """
        Import `related_name` (``tasks``) of each package: installed apps by default.

        `packages` is a list or a callable returning one (``lambda: settings.INSTALLED_APPS``).
        As in Celery the import waits until the apps are ready unless `force` is true.
        """
        if force or _apps_ready():
            self._discover_from(packages, related_name)
        else:
            self._discover.append((packages, related_name))

    def _discover_from(self, packages: Any, related_name: str | None) -> None:
        from django.apps import apps

        names = packages() if callable(packages) else packages
        by_class = {}
        if apps.apps_ready:
            configs = apps.get_app_configs()
            by_class = {f"{type(c).__module__}.{type(c).__qualname__}": c.name for c in configs}
            if names is None:
                names = [c.name for c in configs]
        for package in names or ():
            _import_related(by_class.get(package, package), related_name)

    def autodiscover(self) -> None:
        """Import each installed app's ``tasks`` module, then finalize (``AppConfig.ready``)."""
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
        self.finalize()

    def finalize(self, auto: bool = False) -> None:
        """
        Finish configuring: send ``on_after_configure``, import, send ``on_after_finalize``.

        Django's ``AppConfig.ready`` calls it. ``on_after_configure`` is sent once after each
        ``config_from_object``; then ``autodiscover_tasks()``'s modules, ``include=`` and
        ``IMPORTS`` are imported and ``on_after_finalize`` is sent (``sender=app``).
        """
        if conf._source is not None and not self._configured_sent:
            self._configured_sent = True
            self.on_after_configure.send_logged(sender=self, source=self.conf)
        pending, self._discover = self._discover, []
        for packages, related_name in pending:
            self._discover_from(packages, related_name)
        for module in [*self._include, *_imports()]:
            importlib.import_module(module)
        self._discovered = True
        self.on_after_finalize.send_logged(sender=self)

    # -- tasks -------------------------------------------------------------------------------

    def task(self, *args: Any, **options: Any) -> Any:
        """
        Turn a function into a task; usable bare (``@app.task``) or with options.

        Options are Celery's task options (``name, bind, base, max_retries, ...``); unknown
        options and bad values raise at decoration, naming the task.
        """
        if len(args) == 1 and callable(args[0]) and not options:
            return create_task(self, args[0], self._task_cls, {})
        if args:
            raise TypeError("app.task() takes only keyword options, e.g. @app.task(bind=True).")

        def decorator(fun: Callable) -> Any:
            opts = dict(options)
            base = opts.pop("base", None) or self._task_cls
            return create_task(self, fun, base, opts)

        return decorator

    def register_task(self, task: Any, **options: Any) -> Any:
        """
        Register a class-based task (an instance or its class) and return the instance.

        A concrete ``Task`` subclass registers itself when its class is created, so this
        returns that instance; registering it again is harmless, as in Celery 4.
        """
        if isinstance(task, type):
            if not issubclass(task, Task):
                raise TypeError(f"register_task() takes a Task subclass, not {task!r}.")
            if task.abstract or not task.name:
                raise TypeError(
                    f"register_task({task.__qualname__}): the class defines no run(); only "
                    "concrete tasks are registered."
                )
            found = self.tasks.get(task.name)
            if isinstance(found, task):
                return found
            task = task()
        if not isinstance(task, Task):
            raise TypeError(f"register_task() takes a task, not {task!r}.")
        found = self.tasks.get(task.name)
        if found is not None and type(found) is type(task):
            return found  # the class registered its instance when it was created
        return self.tasks.register(task)

    def get(self, name: str) -> Any:
        return self.tasks[name]

    def add_periodic_task(
        self,
        schedule: Any,
        sig: Any,
        args: tuple = (),
        kwargs: dict | None = None,
        name: str | None = None,
        **opts: Any,
    ) -> str:
        """
        Run `sig` (a signature, a task or a task name) on `schedule`; return the entry's name.

        Celery's: `schedule` is seconds, a timedelta or a crontab; `args`/`kwargs` go before
        the signature's own; the name defaults to the signature's repr. Workers store the
        entry at start and check it there (an error names the entry).
        """
        if isinstance(sig, str):
            sig = {"task": sig, "args": (), "kwargs": {}, "options": {}}
        elif not isinstance(sig, dict) and hasattr(sig, "s"):
            sig = sig.s()
        if not (isinstance(sig, dict) and isinstance(sig.get("task"), str)):
            raise TypeError(f"add_periodic_task() takes a signature or a task, not {sig!r}.")
        key = name or repr(sig)
        self.periodic_entries[key] = {
            "task": sig["task"],
            "schedule": schedule,
            "args": (*args, *(sig.get("args") or ())),
            "kwargs": {**(sig.get("kwargs") or {}), **(kwargs or {})},
            "options": {**(sig.get("options") or {}), **opts},
        }
        return key

    def AsyncResult(self, task_id: str, **kwargs: Any):  # noqa: N802 - Celery's name
        """A result handle for `task_id`."""
        return AsyncResult(task_id, **kwargs)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any):
        """Enqueue a task by name (it need not be importable here); never run eagerly."""
        return send_by_name(name, args, kwargs, **options)

    def __repr__(self) -> str:
        return f"<App {self.main or 'django_tasks'}>"


class Celery(App):
    """
    ``Celery("proj", ...)``: Celery's constructor, returning the one process-wide app.

    Settings given as keywords (``task_default_queue=...``) are ``app.conf`` overrides;
    ``broker=``/``backend=`` and the other arguments that mean nothing here are listed by
    ``manage.py check``; an unknown keyword raises ``TypeError``.
    """

    def __new__(cls, main: str | None = None, *args: Any, **kwargs: Any) -> App:  # type: ignore[misc]
        if args:
            raise TypeError(
                "Celery() takes the app name positionally and everything else by keyword, "
                f"not {args!r}."
            )
        return app._celery(main, kwargs)


def _task_class(value: Any) -> type[Task]:
    if isinstance(value, str):
        from django.utils.module_loading import import_string

        value = import_string(value.replace(":", "."))
    if not (isinstance(value, type) and issubclass(value, Task)):
        raise TypeError(f"Celery(task_cls=) must be a Task subclass, not {value!r}.")
    return value


def _apps_ready() -> bool:
    from django.apps import apps

    return apps.ready


def _imports() -> list[str]:
    """IMPORTS (DJANGO_TASKS or Celery's imports/include); a bad value is the checks' to say."""
    try:
        imports = conf.get("IMPORTS")
    except ImproperlyConfigured:
        from django.conf import settings

        raw = getattr(settings, "DJANGO_TASKS", {})
        imports = raw.get("IMPORTS", []) if isinstance(raw, dict) else []
    return list(imports) if isinstance(imports, list | tuple) else []


def _import_related(package: str, related_name: str | None) -> None:
    """Import ``package.related_name`` if it exists (Celery's ``find_related_module``)."""
    if not related_name:
        importlib.import_module(package)
        return
    module = f"{package}.{related_name}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # a missing import inside the module: the user's error


app = App()
# Tasks built before any app existed (class-based ones at import) belong to this one.
Task.app = app
#: Celery's ``current_app``: there is one app.
current_app = app


def _after_fork_in_child() -> None:
    if app.on_after_fork.has_listeners():
        app.on_after_fork.send_logged(sender=app)


os.register_at_fork(after_in_child=_after_fork_in_child)
