"""Minimal Django settings for the ``django_q2`` peer benchmark.

Used by the harness (enqueueing) and by the ``qcluster`` process
(``DJANGO_SETTINGS_MODULE=bench.peers._django_q2_settings``).  Only what
django-q2 needs: its app, a PostgreSQL database and ``Q_CLUSTER`` with the
ORM broker (the database-backed mode; see ``django_q2.py`` for the choices).
"""

import os

from bench.peers import _common as c

SECRET_KEY = "bench-peers-not-secret"  # noqa: S105 - a throwaway benchmark project
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django_q"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3
        "NAME": c.db_name("django_q2"),
        "HOST": c.PG_HOST,
        "PORT": c.PG_PORT,
        "USER": c.PG_USER,
        "PASSWORD": c.PG_PASSWORD,
        # Persistent connections: the ORM broker calls close_old_connections()
        # before every dequeue and the monitor before every result save, so
        # with Django's default CONN_MAX_AGE=0 each would reconnect.
        "CONN_MAX_AGE": 600,
    }
}

Q_CLUSTER = {
    "name": "bench",
    "orm": "default",  # the ORM (database) broker
    "workers": int(os.environ.get("BENCH_DQ2_WORKERS", "2")),
    # Seconds the pusher sleeps when a dequeue finds nothing (default 0.2).
    "poll": float(os.environ.get("BENCH_DQ2_POLL", "0.1")),
    # Tasks one dequeue takes off the broker (default 1).
    "bulk": int(os.environ.get("BENCH_DQ2_BULK", "10")),
    # Keep every successful result without pruning: the default (250) runs
    # SELECT ... FOR UPDATE over all saved successes on every result save.
    "save_limit": 0,
    "timeout": 30,
    "retry": 60,  # > timeout, as django-q2 requires
    "scheduler": False,  # no schedules in the benchmark
    "log_level": "WARNING",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
