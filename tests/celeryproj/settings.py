"""
The settings the project's workers run with (``runtasks --settings tests.celeryproj.settings``).

The test suite's, plus Celery's settings under the CELERY namespace, as a project has them.
"""

from tests.settings import *  # noqa: F403

CELERY_BROKER_URL = "redis://localhost:6379/0"
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_ROUTES = {"mail.*": {"queue": "mail"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
