"""Test settings: the testproject's, plus the tests app and its task bodies."""

import os
import tempfile

import django

from testproject.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not :memory:, so runtasks subprocesses see the test database.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.environ.get(
            "TEST_SQLITE_PATH", os.path.join(tempfile.gettempdir(), "django_tasks_test.sqlite3")
        )
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DJANGO_TASKS = {
    "HEARTBEAT_INTERVAL": float(os.environ.get("DJANGO_TASKS_HEARTBEAT_INTERVAL", "1")),
    "HEARTBEAT_TIMEOUT": float(os.environ.get("DJANGO_TASKS_HEARTBEAT_TIMEOUT", "5")),
    "POLL_INTERVAL": 0.2,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s %(levelname)s/%(process)d] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_tasks": {"handlers": ["console"], "level": "INFO", "propagate": True}},
}

if django.VERSION >= (6, 0):
    # Django's django.tasks API on our tables (tests/backends); the runtasks workers need it
    # too, to import the Django-API task bodies in tests/django_api_tasks.py.
    TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.DatabaseBackend",
            "QUEUES": ["default", "other"],
        }
    }

if os.environ.get("TESTS_SIGNAL_LOG"):
    # tests/integration/test_worker_signals.py: the worker imports receivers of every signal.
    DJANGO_TASKS["IMPORTS"] = ["tests.signal_receivers"]
