"""Management commands other than runtasks, and the project's own consistency checks."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_tasks import states
from django_tasks.models import TaskMessage
from tests.factories import TaskAttemptFactory, TaskMessageFactory

pytestmark = pytest.mark.django_db


def test_prunetasks_deletes_expired_finished_tasks_and_their_attempts():
    old = timezone.now() - timedelta(days=3)
    for i in range(5):
        TaskMessageFactory(id=f"old{i}", state=states.SUCCESS, created_at=old, done_at=old)
    TaskAttemptFactory(task=TaskMessage.objects.get(id="old0"))
    TaskMessageFactory(id="fresh", state=states.SUCCESS, done_at=timezone.now())
    TaskMessageFactory(id="waiting", created_at=old)
    out = StringIO()
    call_command("prunetasks", "--batch-size", "2", stdout=out)
    assert "Deleted 5 finished tasks older than 86400 s." in out.getvalue()
    assert set(TaskMessage.objects.values_list("id", flat=True)) == {"fresh", "waiting"}


def test_prunetasks_refuses_when_results_never_expire(settings):
    settings.DJANGO_TASKS = {**settings.DJANGO_TASKS, "RESULT_EXPIRES": None}
    with pytest.raises(CommandError, match="pass --older-than"):
        call_command("prunetasks")


def test_system_checks_pass():
    call_command("check", "--fail-level", "WARNING")


def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_runtasks_rejects_a_bad_flag_with_a_clear_message():
    with pytest.raises(CommandError, match=r"must be a positive integer, not '0'"):
        call_command("runtasks", "--concurrency", "0")
