"""
Benchmark settings: the testproject's, plus the ``bench`` app (its no-op tasks).

DATABASE_URL picks the database, as for the testproject. DEBUG is off, as in production:
with DEBUG on, every statement goes through Django's debug cursor (timed, logged, kept in
``connection.queries``), which would be measured as the queue's cost.
"""

from testproject.settings import *  # noqa: F403

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405
# The library's defaults (TRACK_STARTED, POLL_INTERVAL, CLAIM_BATCH_SIZE...): the figures are
# what a user gets without tuning. The testproject turns TRACK_STARTED on for its demo.
DJANGO_TASKS = {}
# Workers log at the level ``runtasks --loglevel`` gives (the benchmark passes warning, as
# the peers are run); the harness itself logs nothing per task.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_tasks": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
