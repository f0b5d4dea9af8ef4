"""
django_tasks: background tasks for Django with Celery's task API, the database as the queue.

    from django_tasks import app

    @app.task
    def add(x, y):
        return x + y
"""

from . import bootsteps
from .app import App, Celery, app, current_app
from .canvas import Signature, chain, chord, group, signature
from .log import get_task_logger
from .result import AsyncResult, EagerResult, GroupResult
from .task import Task

#: ``@task`` is ``@app.task``; ``shared_task`` is the name Celery's Django docs use.
task = app.task
shared_task = app.task

__version__ = "0.1.0"

__all__ = [
    "App",
    "Celery",
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "Signature",
    "Task",
    "app",
    "bootsteps",
    "chain",
    "chord",
    "current_app",
    "get_task_logger",
    "group",
    "shared_task",
    "signature",
    "task",
]
