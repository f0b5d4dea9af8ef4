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
    logger = logging.getLogger(f"{TASK_LOGGER}.{name}")
    if not any(isinstance(f, TaskContextFilter) for f in logger.filters):
        logger.addFilter(TaskContextFilter())
    return TaskLoggerAdapter(logger, {})


def get_default_logger(name: str = "django_tasks") -> logging.Logger:
    """The library's logger (Celery's ``app.log.get_default_logger``)."""
    return logging.getLogger(name)


class LoggingProxy(io.TextIOBase):
    """A file-like object that logs each line written to it at `level`."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, level: int) -> None:
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
    options = {"loglevel": level, "logfile": logfile, "format": format, "colorize": colorize}
    signals.after_setup_logger.send(sender=None, logger=ours, **options)
    signals.after_setup_task_logger.send(
        sender=None, logger=logging.getLogger(TASK_LOGGER), **options
    )
    return False
