"""Task loggers: every record carries the running task's name and id."""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

from . import signals
from .request import current_request

#: The parent of every task logger (Celery's ``celery.task``).
TASK_LOGGER = "django_tasks.task"
#: The worker's log format when it sets up logging itself (no LOGGING handler applies).
WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(process)d] %(name)s: %(message)s"


class TaskContextFilter(logging.Filter):
    """
    Put ``task_name`` and ``task_id`` on each record (``???`` outside a task); inside a task
    the message starts with ``name[id]:``, as Celery's task log format shows it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        record.task_name = request.task or "???"
        record.task_id = request.id or "???"
        if request.id and not getattr(record, "_django_tasks_prefixed", False):
            prefix = f"{request.task}[{request.id}]: "
            record.msg = (prefix.replace("%", "%%") if record.args else prefix) + str(record.msg)
            record._django_tasks_prefixed = True
        return True


def get_task_logger(name: str) -> logging.Logger:
    """
    Return the logger `name` for task modules; its records carry the task name and id.

    As Celery's ``get_task_logger``: the logger is ``logging.getLogger(name)`` (handlers
    attached to it get its records) whose parent is the ``django_tasks.task`` logger, so
    configuring that one configures every task logger. Records have ``task_name`` and
    ``task_id`` attributes, and inside a task their message starts with ``name[id]:``.
    """
    logger = logging.getLogger(name)
    task_logger = logging.getLogger(TASK_LOGGER)
    if logger is not task_logger and not name.startswith(TASK_LOGGER + "."):
        logger.parent = task_logger
    if not any(isinstance(f, TaskContextFilter) for f in logger.filters):
        logger.addFilter(TaskContextFilter())
    return logger


def get_default_logger(name: str = "django_tasks") -> logging.Logger:
    """The library's logger (Celery's ``app.log.get_default_logger``)."""
    return logging.getLogger(name)


class LoggingProxy(io.TextIOBase):
    """A file-like object that logs each line written to it at `level`."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger = logger
        self.level = level
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, data: str) -> int:
        self._buffer += data
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, line)
        return len(data)

    def flush(self) -> None:
        if self._buffer.strip():
            self.logger.log(self.level, self._buffer)
        self._buffer = ""

    def isatty(self) -> bool:
        return False


def _level(loglevel: Any) -> int:
    if loglevel is None:
        from . import conf

        loglevel = conf.get("REDIRECT_STDOUTS_LEVEL")
    if isinstance(loglevel, str):
        value = logging.getLevelName(loglevel.upper())
        if not isinstance(value, int):
            raise ValueError(
                f"Unknown log level {loglevel!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL."
            )
        return value
    return int(loglevel)


def redirect_stdouts_to_logger(
    logger: logging.Logger | logging.LoggerAdapter,
    loglevel: Any = None,
    stdout: bool = True,
    stderr: bool = True,
) -> LoggingProxy:
    """
    Send ``sys.stdout`` (and ``sys.stderr``) writes to `logger` at `loglevel`.

    Celery's ``app.log.redirect_stdouts_to_logger``; the level defaults to
    ``REDIRECT_STDOUTS_LEVEL``. The caller restores the streams (save them first).
    """
    proxy = LoggingProxy(logger, _level(loglevel))
    if stdout:
        sys.stdout = proxy
    if stderr:
        sys.stderr = proxy
    return proxy


def setup_logging_subsystem(
    loglevel: Any = "INFO",
    logfile: str | None = None,
    format: str = WORKER_LOG_FORMAT,  # noqa: A002 - Celery's argument name
    colorize: bool = False,
) -> bool:
    """
    Set up the worker's logging, or leave it to ``setup_logging`` receivers; True if left.

    Celery's order: ``setup_logging`` is sent first, and when any receiver is connected
    the worker configures nothing (nor redirects stdout). Otherwise the ``django_tasks``
    logger gets `loglevel`, and a handler (stderr, or `logfile`) in `format` when neither
    it nor the root logger has one (``LOGGING`` wins); then ``after_setup_logger`` and
    ``after_setup_task_logger`` are sent with the loggers configured.
    """
    level = _level(loglevel)
    if signals.setup_logging.send(
        sender=None, loglevel=level, logfile=logfile, format=format, colorize=colorize
    ):
        return True
    root, ours = logging.getLogger(), logging.getLogger("django_tasks")
    ours.setLevel(level)
    if not root.handlers and not ours.handlers:
        handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(format))
        ours.addHandler(handler)
        ours.propagate = False
    # Django's own task lines ("Task id=... path=... state=SUCCESS", Django 6's django.tasks)
    # for Django-API tasks: the same level, and our handlers unless LOGGING gave it some
    # (else they reach only Django's DEBUG-only console handler).
    django_tasks_logger = logging.getLogger("django.tasks")
    django_tasks_logger.setLevel(level)
    if ours.handlers and not django_tasks_logger.handlers:
        for handler in ours.handlers:
            django_tasks_logger.addHandler(handler)
        django_tasks_logger.propagate = False
    options = {"loglevel": level, "logfile": logfile, "format": format, "colorize": colorize}
    signals.after_setup_logger.send(sender=None, logger=ours, **options)
    signals.after_setup_task_logger.send(
        sender=None, logger=logging.getLogger(TASK_LOGGER), **options
    )
    return False
