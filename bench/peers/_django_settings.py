"""Minimal Django settings for the ``django_tasks_db`` peer benchmark.

Used by the harness (enqueueing) and by the ``db_worker`` processes
(``DJANGO_SETTINGS_MODULE=bench.peers._django_settings``).  Only what
django-tasks-db needs: its app, a PostgreSQL database and the task backend.
"""

from bench.peers import _common as c

SECRET_KEY = "bench-peers-not-secret"  # noqa: S105 - a throwaway benchmark project
DEBUG = False  # DEBUG would also make db_worker auto-reload and log queries
USE_TZ = True
INSTALLED_APPS = ["django_tasks_db"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3
        "NAME": c.db_name("django_tasks_db"),
        "HOST": c.PG_HOST,
        "PORT": c.PG_PORT,
        "USER": c.PG_USER,
        "PASSWORD": c.PG_PASSWORD,
        # Persistent connections: db_worker calls close_old_connections() around
        # every task, so with Django's default CONN_MAX_AGE=0 each task would
        # open a new PostgreSQL connection.  Any production worker sets this.
        "CONN_MAX_AGE": 600,
    }
}

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
