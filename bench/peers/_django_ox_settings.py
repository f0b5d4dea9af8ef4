"""Minimal Django settings for the ``django_ox`` peer benchmark.

Used by the harness (enqueueing) and by the ``ox_worker`` processes
(``DJANGO_SETTINGS_MODULE=bench.peers._django_ox_settings``).  Only what
django-ox needs: its app, a PostgreSQL database and its task backend.
"""

from bench.peers import _common as c

SECRET_KEY = "bench-peers-not-secret"  # noqa: S105 - a throwaway benchmark project
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django_ox"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3
        "NAME": c.db_name("django_ox"),
        "HOST": c.PG_HOST,
        "PORT": c.PG_PORT,
        "USER": c.PG_USER,
        "PASSWORD": c.PG_PASSWORD,
        # Persistent connections, as for django-tasks-db (django-ox's own
        # published figures are "with pooled or persistent connections").
        "CONN_MAX_AGE": 600,
    }
}

TASKS = {
    "default": {
        "BACKEND": "django_ox.backend.OxBackend",
        "QUEUES": ["default"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
