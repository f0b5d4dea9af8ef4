"""Built-in tasks."""

from __future__ import annotations

from typing import Any

from . import conf
from .app import app


@app.task(name="django_tasks.backend_cleanup", ignore_result=True)
def backend_cleanup() -> int:
    """Delete finished tasks older than ``RESULT_EXPIRES`` seconds (in batches)."""
    from .broker import get_broker

    expires = conf.get("RESULT_EXPIRES")
    if expires is None:
        return 0
    return get_broker().prune(expires)


@app.task(name="django_tasks.starmap")
def starmap(task: str, calls: list[Any]) -> list[Any]:
    """Run `task` inline once per argument list in `calls` (the body of ``chunks``)."""
    fun = app.tasks[task]
    return [fun(*(c if isinstance(c, list | tuple) else [c])) for c in calls]
