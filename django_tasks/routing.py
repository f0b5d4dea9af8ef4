"""
Routes: which queue (and priority) a message goes to, as Celery's ``task_routes`` decides.

``ROUTES`` (``task_routes``, ``CELERY_ROUTES``) is one router or a list/tuple of them: a dict
by task name (exact names, glob patterns such as ``"mail.*"``, ``re.compile(...)`` keys), a
list of ``(pattern, route)`` pairs, a function ``(name, args, kwargs, options, task=None,
**kw)``, an object with Celery 3's ``route_for_task(task, args, kwargs)``, or a dotted path to
either. A route is a queue name, a dict with ``queue`` (and ``priority``; ``exchange``,
``routing_key`` and the like are accepted and mean nothing here), or None for "next router".

Precedence, as Celery 4+ documents it: the call's ``queue=``/``priority=``, then the task's
own ``queue``/``priority`` option, then the routers, then ``DEFAULT_QUEUE`` /
``DEFAULT_PRIORITY``.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import conf
from .hints import unknown_names
from .options import FromSettings, check_priority, check_queue

#: Route keys that mean something here.
ROUTE_KEYS = frozenset({"queue", "priority"})
#: Route keys of Celery's that are accepted and ignored: the queue is the only route.
IGNORED_ROUTE_KEYS = frozenset(
    {"exchange", "exchange_type", "routing_key", "delivery_mode", "serializer", "compression"}
)
_GLOB = ("*", "?", "[")


class MapRoute:
    """A router made of a dict (or ``(pattern, route)`` pairs): names, globs and regexes."""

    def __init__(self, routes: Any) -> None:
        pairs = routes.items() if isinstance(routes, Mapping) else routes
        self.exact: dict[str, Any] = {}
        self.patterns: list[tuple[re.Pattern, Any]] = []
        for pattern, route in pairs:
            if isinstance(pattern, re.Pattern):
                self.patterns.append((pattern, route))
            elif isinstance(pattern, str) and any(c in pattern for c in _GLOB):
                self.patterns.append((re.compile(fnmatch.translate(pattern)), route))
            elif isinstance(pattern, str):
                self.exact[pattern] = route
            else:
                raise ImproperlyConfigured(
                    f"{conf_name()} key {pattern!r} must be a task name, a glob pattern or a "
                    "compiled regex."
                )

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.exact:
            return self.exact[name]
        for regex, route in self.patterns:
            if regex.match(name):
                return route
        return None

    def __repr__(self) -> str:
        return f"<MapRoute {sorted(self.exact)} + {[p.pattern for p, _ in self.patterns]}>"


def conf_name() -> str:
    """How the user wrote the routes setting (for messages)."""
    return conf.setting_name("ROUTES")


def _expand(router: Any) -> Any:
    if isinstance(router, Mapping | list | tuple):
        return MapRoute(router)
    if isinstance(router, str):
        try:
            found = import_string(router.replace(":", "."))
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{conf_name()} router {router!r} cannot be imported: {exc}."
            ) from exc
        if inspect.isclass(found) and hasattr(found, "route_for_task"):
            found = found()  # a Celery 3 router class
        return _expand(found) if not isinstance(found, str) else found
    if callable(router) or hasattr(router, "route_for_task"):
        return router
    raise ImproperlyConfigured(
        f"{conf_name()} router {router!r} must be a dict, a function, or a dotted path to one."
    )


def prepare(routes: Any) -> list[Any]:
    """The routers of a ROUTES value, in order (Celery's ``routes.prepare``)."""
    if routes is None:
        return []
    if not isinstance(routes, list | tuple):
        routes = (routes,)
    return [_expand(r) for r in routes]


_routers: list[Any] | None = None


def routers() -> list[Any]:
    """The configured routers (prepared once; dropped when the settings change)."""
    global _routers
    if _routers is None:
        _routers = prepare(conf.get("ROUTES"))
    return _routers


def _drop() -> None:
    global _routers
    _routers = None


conf.on_change(_drop)


def _ask(router: Any, name: str, args: tuple, kwargs: dict, options: dict, task: Any) -> Any:
    if hasattr(router, "route_for_task"):
        return router.route_for_task(name, args, kwargs)
    return router(name, args, kwargs, options, task=task)


def _describe(router: Any) -> str:
    if isinstance(router, MapRoute):
        return conf_name()
    return getattr(router, "__qualname__", None) or repr(router)


def lookup(name: str, args: tuple, kwargs: dict, options: dict, task: Any = None) -> dict:
    """
    The first route the routers give `name`, as ``{"queue": ..., "priority": ...}`` or {}.

    Raises ``ValueError`` naming the task and the router when a route is not a queue name, a
    dict or None, or holds a bad queue or priority.
    """
    for router in routers():
        route = _ask(router, name, args, kwargs, options, task)
        if route is None:
            continue
        where = f"Task {name!r}: router {_describe(router)}"
        if isinstance(route, str):
            route = {"queue": route}
        elif not isinstance(route, Mapping):
            raise ValueError(
                f"{where} returned {route!r}; a route is a queue name, a dict with 'queue' or None."
            )
        route = dict(route)
        queue = route.get("queue")
        if queue is not None and not isinstance(queue, str):
            queue = getattr(queue, "name", queue)  # a kombu Queue
        hints = unknown_names(route, ROUTE_KEYS | IGNORED_ROUTE_KEYS)
        if hints:
            raise ValueError(f"{where} returned unknown route key {hints}.")
        try:
            if queue is not None:
                check_queue(name, queue)
            if route.get("priority") is not None:
                check_priority(name, route["priority"])
        except ValueError as exc:
            raise ValueError(f"{where} returned {route!r}: {exc}") from None
        found = {}
        if queue is not None:
            found["queue"] = queue
        if route.get("priority") is not None:
            found["priority"] = route["priority"]
        return found
    return {}


def _own(task: Any, option: str) -> Any:
    """The task's own `option` (a keyword or class attribute), None if it is the setting's."""
    if task is None:
        return None
    if isinstance(inspect.getattr_static(task, option, None), FromSettings):
        return None
    return getattr(task.options, option)


def destination(
    name: str, task: Any, args: tuple, kwargs: dict, options: Mapping[str, Any]
) -> tuple[str, int]:
    """
    The queue and priority of one call: the call's, the task's own, a route's, the default.

    The one place a message's queue is chosen (``sending.build_message`` calls it); routers
    are asked only when the call and the task leave the queue or the priority open.
    """
    queue = options.get("queue")
    if queue is None:
        queue = _own(task, "queue")
    priority = options.get("priority")
    if priority is None:
        priority = _own(task, "priority")
    if (queue is None or priority is None) and routers():
        route = lookup(name, args, kwargs, dict(options), task)
        queue = route.get("queue") if queue is None else queue
        priority = route.get("priority") if priority is None else priority
    if queue is None:
        queue = conf.get("DEFAULT_QUEUE")
    if priority is None:
        priority = conf.get("DEFAULT_PRIORITY")
    return queue, priority


def problems() -> list[str]:
    """What is wrong with the routes setting (for ``manage.py check``): importable, typed."""
    try:
        prepare(conf.get("ROUTES"))
    except ImproperlyConfigured as exc:
        return [str(exc)]
    return []


def queue_names() -> list[str]:
    """The queues a worker given no ``-Q`` should serve: QUEUES' names, else DEFAULT_QUEUE."""
    return conf.queue_names() or [conf.get("DEFAULT_QUEUE")]


#: ``Callable`` routers' signature, for readers: (name, args, kwargs, options, task=None, **kw).
Router = Callable[..., Any]
