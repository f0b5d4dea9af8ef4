"""On Django < 6.0 the backend module imports, and a system check says it needs Django 6."""

from __future__ import annotations

import re

import django
import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

pytestmark = pytest.mark.skipif(
    django.VERSION >= (6, 0),
    reason="Django < 6.0 only: from 6.0 on the backend works (the other tests here)",
)

BACKEND = "django_tasks.backends.DatabaseBackend"
NEEDS_DJANGO_6 = (
    f"TASKS['default'] uses {BACKEND!r}, which needs Django 6.0 or later (django.tasks); "
    f"this is Django {django.get_version()}."
)


def test_backend_module_imports_without_django_tasks():
    from django_tasks import backends

    assert backends.HAS_DJANGO_TASKS is False
    assert backends.DatabaseBackend.__name__ == "DatabaseBackend"


@pytest.mark.django_db  # the checks read the migration table (E020)
def test_configured_backend_is_a_system_check_error(settings):
    settings.TASKS = {"default": {"BACKEND": BACKEND}}

    errors = [e for e in run_checks() if e.id.startswith("django_tasks.E1")]
    assert [(e.id, e.msg) for e in errors] == [("django_tasks.E101", NEEDS_DJANGO_6)]


@pytest.mark.django_db  # the checks read the migration table (E020)
def test_no_check_error_when_tasks_does_not_name_the_backend(settings):
    settings.TASKS = {}
    assert [e for e in run_checks() if e.id == "django_tasks.E101"] == []


def test_building_the_backend_raises_the_same_explanation():
    from django_tasks.backends import DatabaseBackend

    with pytest.raises(ImproperlyConfigured, match=re.escape(NEEDS_DJANGO_6)):
        DatabaseBackend("default", {})
