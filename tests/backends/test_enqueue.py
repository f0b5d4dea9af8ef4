"""
DatabaseBackend without a worker: enqueue, transactions, results read back, OPTIONS.

Where Django's own suite (tests/tasks/ in Django's repository) has a case that applies to
any backend, the same case is here, against the database.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import datetime, timedelta

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0 or later")

from asgiref.sync import async_to_sync  # noqa: E402
from django.db import transaction  # noqa: E402
from django.tasks import (  # noqa: E402
    TaskResultStatus,
    default_task_backend,
    task,
)
from django.tasks.exceptions import (  # noqa: E402
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultMismatch,
)
from django.tasks.signals import task_enqueued  # noqa: E402
from django.utils import timezone  # noqa: E402

from django_tasks import states  # noqa: E402
from django_tasks.backends import DatabaseBackend, to_queue_priority  # noqa: E402
from django_tasks.models import TaskMessage  # noqa: E402
from tests import django_api_tasks as test_tasks  # noqa: E402
from tests import tasks as celery_tasks  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django_tasks", "tests"])

BACKEND = "django_tasks.backends.DatabaseBackend"


def backend_settings(**entry):
    return {"default": {"BACKEND": BACKEND, **entry}}


def not_a_context_task():
    return 42


@pytest.fixture
def enqueued():
    """Results sent with task_enqueued in this process, in order."""
    received = []

    def receiver(sender, task_result, **kwargs):
        received.append((sender, task_result, os.getpid()))

    task_enqueued.connect(receiver)
    yield received
    task_enqueued.disconnect(receiver)


# -- enqueue ------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [test_tasks.noop, test_tasks.noop_async], ids=["sync", "async"])
def test_enqueue_returns_a_ready_result(t):
    result = t.enqueue(1, two=3)

    assert result.status == TaskResultStatus.READY
    assert result.is_finished is False
    assert result.started_at is None
    assert result.last_attempted_at is None
    assert result.finished_at is None
    assert result.enqueued_at is not None
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value  # noqa: B018 - the property raises
    assert result.task == t
    assert result.args == [1]
    assert result.kwargs == {"two": 3}
    assert result.attempts == 0
    assert result.errors == []
    assert result.backend == "default"


def test_aenqueue_returns_a_ready_result():
    result = async_to_sync(test_tasks.noop.aenqueue)()

    assert result.status == TaskResultStatus.READY
    assert result.task == test_tasks.noop
    assert result.args == []
    assert result.kwargs == {}
    assert TaskMessage.objects.filter(id=result.id).exists()


def test_enqueue_writes_the_row_delay_writes():
    result = test_tasks.add.enqueue(2, 3)
    celery = celery_tasks.add.delay(2, 3)

    row = TaskMessage.objects.get(id=result.id)
    twin = TaskMessage.objects.get(id=celery.id)
    assert row.name == "tests.django_api_tasks.add"
    assert (
        (row.state, row.args, row.kwargs, row.queue, row.retries)
        == (twin.state, twin.args, twin.kwargs, twin.queue, twin.retries)
        == (states.PENDING, [2, 3], {}, "default", 0)
    )
    assert row.priority == to_queue_priority(0) == 4
    assert row.options["django"]["backend"] == "default"


def test_enqueue_with_invalid_argument_raises_and_writes_nothing():
    with pytest.raises(TypeError, match="Unsupported type"):
        test_tasks.noop.enqueue(datetime.now())
    assert not TaskMessage.objects.exists()


def test_aenqueue_with_invalid_argument_raises():
    with pytest.raises(TypeError, match="Unsupported type"):
        async_to_sync(test_tasks.noop.aenqueue)(datetime.now())


def test_enqueue_with_arguments_the_function_does_not_take_raises():
    expected = (
        "Task 'tests.django_api_tasks.add' called with bad arguments: missing a "
        "required argument: 'y'."
    )
    with pytest.raises(TypeError, match=re.escape(expected)):
        test_tasks.add.enqueue(1)


def test_enqueue_sends_task_enqueued_in_this_process(enqueued):
    result = test_tasks.noop.enqueue()

    assert len(enqueued) == 1
    sender, task_result, pid = enqueued[0]
    assert sender is DatabaseBackend
    assert task_result is result
    assert pid == os.getpid()


def test_enqueue_logs(caplog):
    caplog.set_level("DEBUG", logger="django.tasks")
    result = test_tasks.noop.enqueue()

    lines = [r.getMessage() for r in caplog.records if r.name == "django.tasks"]
    assert len(lines) == 1
    assert "enqueued" in lines[0]
    assert result.id in lines[0]


# -- transactions -------------------------------------------------------------------------------


def test_enqueue_inside_a_transaction_writes_the_row_at_commit(enqueued):
    with transaction.atomic():
        result = test_tasks.noop.enqueue()
        assert result.enqueued_at is None
        assert not TaskMessage.objects.filter(id=result.id).exists()
        assert enqueued == []

    assert result.enqueued_at is not None
    assert TaskMessage.objects.filter(id=result.id).exists()
    assert [r for _, r, _ in enqueued] == [result]


def test_rollback_enqueues_nothing_and_sends_no_signal(enqueued):
    with pytest.raises(RuntimeError), transaction.atomic():
        test_tasks.noop.enqueue()
        raise RuntimeError("rollback")

    assert not TaskMessage.objects.exists()
    assert enqueued == []


def test_on_commit_false_writes_the_row_in_the_transaction(settings):
    settings.TASKS = backend_settings(OPTIONS={"on_commit": False})
    with pytest.raises(RuntimeError), transaction.atomic():
        result = test_tasks.noop.enqueue()
        assert TaskMessage.objects.filter(id=result.id).exists()
        assert result.enqueued_at is not None
        raise RuntimeError("rollback")

    assert not TaskMessage.objects.exists()


# -- validation ---------------------------------------------------------------------------------


def test_validate_on_enqueue(settings):
    settings.TASKS = backend_settings(QUEUES=[])
    other_queue = test_tasks.noop.using(queue_name="unknown_queue")
    settings.TASKS = backend_settings(QUEUES=["queue-1"])
    with pytest.raises(InvalidTask, match="Queue 'unknown_queue' is not valid for backend"):
        other_queue.enqueue()
    assert not TaskMessage.objects.exists()


def test_validate_on_aenqueue(settings):
    settings.TASKS = backend_settings(QUEUES=[])
    other_queue = test_tasks.noop.using(queue_name="unknown_queue")
    settings.TASKS = backend_settings(QUEUES=["queue-1"])
    with pytest.raises(InvalidTask, match="Queue 'unknown_queue' is not valid for backend"):
        async_to_sync(other_queue.aenqueue)()


def test_task_not_importable_by_its_module_path_cannot_be_enqueued():
    # A Task bound under another name: the worker could never import it by module_path.
    hidden = task()(not_a_context_task)
    expected = (
        "Task 'tests.backends.test_enqueue.not_a_context_task' cannot be imported from "
        "that path, so no worker could run it;"
    )
    with pytest.raises(InvalidTask, match=re.escape(expected)):
        hidden.enqueue()


def test_enqueue_stores_the_mapped_priority():
    result = test_tasks.noop.using(priority=50).enqueue()
    assert TaskMessage.objects.get(id=result.id).priority == 7


# -- results ------------------------------------------------------------------------------------


def test_get_result_reads_what_enqueue_returned():
    result = default_task_backend.enqueue(test_tasks.noop, (), {})

    assert default_task_backend.get_result(result.id) == result
    assert test_tasks.noop.get_result(result.id) == result


def test_aget_result_reads_what_aenqueue_returned():
    result = async_to_sync(default_task_backend.aenqueue)(test_tasks.noop, (), {})

    assert async_to_sync(default_task_backend.aget_result)(result.id) == result
    assert async_to_sync(test_tasks.noop.aget_result)(result.id) == result


def test_get_result_keeps_priority_queue_and_run_after():
    run_after = timezone.now() + timedelta(hours=1)
    sent = test_tasks.noop.using(priority=-30, queue_name="other", run_after=run_after)
    result = sent.enqueue()

    assert default_task_backend.get_result(result.id).task == sent


def test_refresh_result_of_a_waiting_task_changes_nothing():
    result = test_tasks.noop.enqueue()
    original = dataclasses.asdict(result)

    result.refresh()
    assert dataclasses.asdict(result) == original
    async_to_sync(result.arefresh)()
    assert dataclasses.asdict(result) == original


def test_get_result_of_an_unknown_id_raises():
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("123")
    with pytest.raises(TaskResultDoesNotExist):
        test_tasks.noop.get_result("123")
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(default_task_backend.aget_result)(123)


def test_get_result_of_a_celery_api_task_raises():
    celery = celery_tasks.add.delay(1, 2)
    with pytest.raises(TaskResultDoesNotExist, match="read it with AsyncResult"):
        default_task_backend.get_result(celery.id)


def test_get_result_of_another_tasks_id_raises_mismatch():
    result = default_task_backend.enqueue(test_tasks.noop_async, (), {})
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        test_tasks.noop.get_result(result.id)
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        async_to_sync(test_tasks.noop.aget_result)(result.id)


def test_takes_context_task_enqueues_as_ready():
    result = test_tasks.get_task_id.enqueue()
    assert result.status == TaskResultStatus.READY


# -- OPTIONS ------------------------------------------------------------------------------------


def test_options_set_the_celery_options_of_the_backends_tasks(settings):
    settings.TASKS = backend_settings(
        OPTIONS={"max_retries": 5, "time_limit": 30, "acks_late": True}
    )
    result = test_tasks.noop.enqueue()

    row = TaskMessage.objects.get(id=result.id)
    assert row.options["django"]["options"]["max_retries"] == 5
    assert row.max_retries == 5
    assert row.options["time_limit"] == 30
    assert row.acks_late is True


def test_bad_options_raise_at_enqueue(settings):
    settings.TASKS = backend_settings(OPTIONS={"max_retries": -1})
    from django.core.exceptions import ImproperlyConfigured

    expected = (
        "TASKS['default']['OPTIONS']['max_retries'] must be an integer >= 0 or None "
        "(retry forever), not -1."
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
        test_tasks.noop.enqueue()
