"""``REDIRECT_STDOUTS``: a task's ``print`` goes to the log, as in Celery's worker."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

from .. import conf
from ..log import LoggingProxy

logger = logging.getLogger("django_tasks.task.stdout")


@contextmanager
def redirect_stdouts(enabled: bool = True):
    """
    Send stdout writes (a task's ``print``) to the log while the consumer runs.

    `enabled` is False when a ``setup_logging`` receiver took logging over: then, as in
    Celery, the worker leaves the streams alone too.
    """
    if not enabled or not conf.get("REDIRECT_STDOUTS"):
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
