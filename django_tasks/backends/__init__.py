"""
A backend for Django's own task framework (``django.tasks``, Django 6.0+).

    TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.DatabaseBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"max_retries": 3},
        }
    }

Tasks defined with ``django.tasks.task`` are written as the same rows ``delay()`` writes and
run by ``manage.py runtasks`` beside the Celery-style ones. On Django 5.2 this module still
imports; the backend then reports, as a system check error, that it needs Django 6.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

#: The import path to put in ``TASKS[alias]["BACKEND"]``.
BACKEND_PATH = "django_tasks.backends.DatabaseBackend"

try:
    import django.tasks  # noqa: F401  (Django >= 6.0)
except ImportError:  # Django 5.2: no django.tasks
    HAS_DJANGO_TASKS = False
else:
    HAS_DJANGO_TASKS = True


def _needs_django_6(alias: str) -> str:
    return (
        f"TASKS[{alias!r}] uses {BACKEND_PATH!r}, which needs Django 6.0 or later "
        f"(django.tasks); this is Django {django.get_version()}."
    )


if HAS_DJANGO_TASKS:
    from .database import DatabaseBackend, DatabaseTask, to_queue_priority
else:

    class DatabaseBackend:  # type: ignore[no-redef]
        """Stand-in on Django < 6.0: explains that django.tasks is missing."""

        def __init__(self, alias: str, params: dict) -> None:
            raise ImproperlyConfigured(_needs_django_6(alias))

    DatabaseTask = None  # type: ignore[assignment,misc]
    to_queue_priority = None  # type: ignore[assignment]


@register(Tags.compatibility)
def check_django_version(app_configs=None, **kwargs):
    """On Django < 6.0, an error for each ``TASKS`` alias that names this backend."""
    if HAS_DJANGO_TASKS:
        return []  # Django runs each backend's own check() (DatabaseBackend.check)
    configured = getattr(settings, "TASKS", {})
    if not isinstance(configured, dict):
        return []
    return [
        Error(
            _needs_django_6(alias),
            hint="Upgrade Django, or define tasks with @app.task (the Celery-style API), "
            "which works on Django 5.2.",
            id="django_tasks.E101",
        )
        for alias, params in configured.items()
        if isinstance(params, dict) and params.get("BACKEND") == BACKEND_PATH
    ]


__all__ = ["BACKEND_PATH", "DatabaseBackend", "DatabaseTask", "to_queue_priority"]
