"""Task loggers: every record carries the running task's name and id."""

from __future__ import annotations

import logging

from .request import current_request


class TaskContextFilter(logging.Filter):
    """Put ``task_name`` and ``task_id`` on each record (``???`` outside a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        record.task_name = request.task or "???"
        record.task_id = request.id or "???"
        return True


class TaskLoggerAdapter(logging.LoggerAdapter):
    """Prefix messages with the task name and id, as Celery's task log format does."""

    def process(self, msg, kwargs):
        request = current_request()
        if request.id:
            return f"{request.task}[{request.id}]: {msg}", kwargs
        return msg, kwargs


def get_task_logger(name: str) -> TaskLoggerAdapter:
    """
    Return a logger for task modules whose records carry the task name and id.

    Records go through the ``django_tasks.task`` logger tree (``django_tasks.task.<name>``),
    have ``task_name`` and ``task_id`` attributes for formatters, and their message starts
    with ``name[id]:`` when emitted inside a task.
    """
    logger = logging.getLogger(f"django_tasks.task.{name}")
    if not any(isinstance(f, TaskContextFilter) for f in logger.filters):
        logger.addFilter(TaskContextFilter())
    return TaskLoggerAdapter(logger, {})
