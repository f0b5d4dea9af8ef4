"""``REDIRECT_STDOUTS``: a task's ``print`` goes to the log, as in Celery's worker."""

from __future__ import annotations

import io
import logging
import sys
from contextlib import contextmanager

from .. import conf

logger = logging.getLogger("django_tasks.task.stdout")


class LoggingProxy(io.TextIOBase):
    """A file-like object that logs each written line at `level`."""

    def __init__(self, log: logging.Logger, level: int) -> None:
        self.log = log
        self.level = level
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, data: str) -> int:
        self._buffer += data
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self.log.log(self.level, line)
        return len(data)

    def flush(self) -> None:
        if self._buffer.strip():
            self.log.log(self.level, self._buffer)
        self._buffer = ""

    def isatty(self) -> bool:
        return False


@contextmanager
def redirect_stdouts():
    """Send stdout writes (a task's ``print``) to the log while the consumer runs."""
    if not conf.get("REDIRECT_STDOUTS"):
        yield
        return
    level = logging.getLevelName(conf.get("REDIRECT_STDOUTS_LEVEL"))
    # stderr stays: log handlers write there, and a proxy would feed the log to itself.
    old_out = sys.stdout
    sys.stdout = LoggingProxy(logger, level)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = old_out
