"""
Celery's task options on Django's ``@task`` (Django 6.1 forwards its keywords to task_class).

Each option means what it means on ``@app.task``; the worker honours it from the message.
"""

from __future__ import annotations

import re

import django
import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0 or later")
if django.VERSION < (6, 1):
    pytest.skip(
        "@task(**kwargs) reaches the backend's task_class from Django 6.1 on; on 6.0 "
        "Celery's options are set for all of a backend's tasks with its OPTIONS "
        "(test_worker.py)",
        allow_module_level=True,
    )

from django.tasks import TaskResultStatus, task  # noqa: E402
from django.tasks.exceptions import InvalidTask  # noqa: E402

from django_tasks.exceptions import (  # noqa: E402
    SoftTimeLimitExceeded,
    TaskRevokedError,
    TimeLimitExceeded,
)
from django_tasks.models import TaskAttempt, TaskMessage  # noqa: E402
from tests import django_api_tasks as test_tasks  # noqa: E402

BACKEND = "django_tasks.backends.DatabaseBackend"
db = pytest.mark.django_db(transaction=True, available_apps=["django_tasks", "tests"])


def body():
    return None


# -- validation at decoration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"max_retries": -1},
            "option 'max_retries' must be an integer >= 0 or None (retry forever), not -1.",
        ),
        (
            {"rate_limit": "fast"},
            "option 'rate_limit' must be a rate like '10/s', '100/m', '1000/h' or a number "
            "of tasks per second, not 'fast'.",
        ),
        ({"time_limit": 0}, "option 'time_limit' must be seconds > 0, not 0."),
        (
            {"time_limit": 5, "soft_time_limit": 6},
            "option 'soft_time_limit' (6) must not exceed time_limit (5).",
        ),
        ({"acks_late": "yes"}, "option 'acks_late' must be True or False, not 'yes'."),
    ],
)
def test_bad_option_on_the_decorator_is_invalid_at_import(options, message):
    expected = f"Task 'tests.backends.test_celery_options.body' {message}"
    with pytest.raises(InvalidTask, match=re.escape(expected)):
        task(**options)(body)


def test_unknown_option_on_the_decorator_is_a_type_error():
    with pytest.raises(TypeError, match="max_retry"):
        task(max_retry=3)(body)


def test_option_on_the_decorator_wins_over_the_backends_options(settings):
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": {"max_retries": 7}}}
    decorated = task(max_retries=2)(body)
    backend = decorated.get_backend()

    assert backend.task_options(decorated)["max_retries"] == 2
    assert backend.task_options(test_tasks.noop)["max_retries"] == 7


# -- the worker honours them --------------------------------------------------------------------


@db
def test_max_retries_retries_until_success(burst):
    result = test_tasks.flaky_retrying.enqueue(2)
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == 3
    assert result.attempts == 3
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]


@db
def test_max_retries_fails_with_every_attempts_error(burst):
    result = test_tasks.flaky_retrying.enqueue(5)
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    assert len(result.errors) == 3
    assert TaskMessage.objects.get(id=result.id).max_retries == 2


@db
def test_retry_backoff_delays_the_retry(burst):
    result = test_tasks.fails_with_backoff.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert len(result.errors) == 2
    first, second = TaskAttempt.objects.filter(task_id=result.id).order_by("number")
    # retry_backoff=1, no jitter: the retry is due 1 s after the first attempt failed.
    assert 1.0 <= (second.started_at - first.started_at).total_seconds() <= 5.0


@db
def test_time_limit_kills_the_task(burst):
    result = test_tasks.over_time_limit.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TimeLimitExceeded


@db
def test_soft_time_limit_raises_inside_the_task(burst):
    result = test_tasks.over_soft_time_limit.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is SoftTimeLimitExceeded


@db
def test_rate_limit_spaces_the_runs(burst):
    first = test_tasks.rate_limited.enqueue("a")
    second = test_tasks.rate_limited.enqueue("b")
    burst()  # one token a minute: the second goes back to the queue, due in a minute

    first.refresh()
    second.refresh()
    assert sorted([first.status, second.status]) == [
        TaskResultStatus.READY,
        TaskResultStatus.SUCCESSFUL,
    ]


@db
def test_acks_late_is_written_where_recovery_reads_it(burst):
    result = test_tasks.late.enqueue("x")

    row = TaskMessage.objects.get(id=result.id)
    assert row.acks_late is True
    assert row.options["acks_late"] is True
    burst()
    result.refresh()
    assert result.return_value == "x"


@db
def test_expired_task_is_revoked_unrun(burst):
    result = test_tasks.expires_at_once.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskRevokedError
