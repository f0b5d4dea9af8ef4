"""
Django-API tasks run by real ``runtasks`` workers, beside Celery-API tasks, on every vendor.

The results are read back through Django's API from this process; the worker is another.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0 or later")

from asgiref.sync import async_to_sync  # noqa: E402
from django.tasks import TaskResultStatus, default_task_backend  # noqa: E402
from django.tasks.exceptions import TaskResultDoesNotExist  # noqa: E402
from django.utils import timezone  # noqa: E402

from django_tasks import states  # noqa: E402
from django_tasks.exceptions import NotRegistered  # noqa: E402
from django_tasks.models import TaskMessage  # noqa: E402
from tests import django_api_tasks as test_tasks  # noqa: E402
from tests import tasks as celery_tasks  # noqa: E402
from tests.factories import TaskMessageFactory  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django_tasks", "tests"])

BACKEND = "django_tasks.backends.DatabaseBackend"


def assert_times_in_order(result):
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at
    assert result.last_attempted_at <= result.finished_at


# -- success ------------------------------------------------------------------------------------


def test_worker_runs_a_django_task_and_records_its_return_value(burst):
    result = test_tasks.calculate_meaning_of_life.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.is_finished is True
    assert result.return_value == 42
    assert result.errors == []
    assert result.attempts == 1
    assert len(result.worker_ids) == 1
    assert_times_in_order(result)


def test_an_info_worker_shows_djangos_own_task_log_lines(runtasks):
    result = test_tasks.calculate_meaning_of_life.enqueue()
    # DEBUG off, as in production: Django's own console handler then shows nothing.
    worker = runtasks("--burst", "-c", "1", "-l", "info", env={"DEBUG": "false"})
    assert worker.wait(timeout=60) == 0, worker.output()
    out = worker.output()
    path = "tests.django_api_tasks.calculate_meaning_of_life"
    assert f"Task id={result.id} path={path} state=RUNNING" in out, out
    assert f"Task id={result.id} path={path} state=SUCCESSFUL" in out, out


@pytest.mark.parametrize("t", [test_tasks.noop, test_tasks.noop_async], ids=["sync", "async"])
def test_enqueued_arguments_reach_the_body(burst, t):
    result = t.enqueue(1, two=3)
    burst()

    got = default_task_backend.get_result(result.id)
    assert got.status == TaskResultStatus.SUCCESSFUL
    assert got.return_value is None
    assert got.task == t
    assert (got.args, got.kwargs) == ([1], {"two": 3})


def test_async_task_body_runs_in_an_event_loop(burst):
    result = async_to_sync(test_tasks.async_add.aenqueue)(2, 3)
    burst()

    got = async_to_sync(test_tasks.async_add.aget_result)(result.id)
    assert got.status == TaskResultStatus.SUCCESSFUL
    assert got.return_value == 5
    async_to_sync(result.arefresh)()
    assert result.return_value == 5


def test_takes_context_receives_its_running_result_as_attempt_1(burst):
    result = test_tasks.context_of.enqueue(1)
    own_id = test_tasks.get_task_id.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    seen = result.return_value
    assert seen["id"] == result.id
    assert seen["status"] == TaskResultStatus.RUNNING
    assert seen["attempt"] == 1
    assert seen["worker_ids"] == result.worker_ids
    assert seen["args"] == [1]
    own_id.refresh()
    assert own_id.return_value == own_id.id


def test_django_and_celery_tasks_run_side_by_side_from_one_queue(burst):
    celery = celery_tasks.add.delay(1, 2)
    django = test_tasks.add.enqueue(3, 4)
    burst()

    assert celery.get(timeout=1) == 3
    django.refresh()
    assert django.return_value == 7


# -- failures -----------------------------------------------------------------------------------


def test_failures_are_recorded_as_django_task_errors(burst):
    cases = [
        (
            test_tasks.failing_value_error.enqueue(),
            ValueError,
            "ValueError: This Task failed due to ValueError\n",
        ),
        (
            test_tasks.failing_system_exit.enqueue(),
            SystemExit,
            "SystemExit: This Task failed due to SystemExit\n",
        ),
        (test_tasks.complex_exception.enqueue(), ValueError, "ValueError: This task failed\n"),
        (test_tasks.complex_return_value.enqueue(), TypeError, "Unsupported type"),
    ]
    after = test_tasks.add.enqueue(1, 1)  # the worker goes on after a SystemExit
    burst()

    for result, exception, text in cases:
        result.refresh()
        assert result.status == TaskResultStatus.FAILED, result.task
        with pytest.raises(ValueError, match="Task failed"):
            result.return_value  # noqa: B018 - the property raises
        assert len(result.errors) == 1
        assert result.errors[0].exception_class is exception
        assert text in result.errors[0].traceback
        assert result.attempts == 1
        assert_times_in_order(result)
    after.refresh()
    assert after.return_value == 2


def test_complex_exception_traceback_shows_the_raise(burst):
    result = test_tasks.complex_exception.enqueue()
    burst()

    result.refresh()
    assert 'ValueError(ValueError("This task failed"))' in result.errors[0].traceback


def test_row_naming_no_django_task_fails_and_the_worker_goes_on(burst):
    django = {"backend": "default", "options": {}, "takes_context": False}
    missing = TaskMessageFactory(name="tests.django_api_tasks.nope", options={"django": django})
    after = test_tasks.add.enqueue(2, 2)
    burst()

    missing.refresh_from_db()
    assert missing.state == states.FAILURE
    assert missing.exc_type == f"{NotRegistered.__module__}.NotRegistered"
    assert "cannot be imported" in missing.exc_message
    with pytest.raises(TaskResultDoesNotExist, match="cannot be imported"):
        default_task_backend.get_result(missing.id)
    after.refresh()
    assert after.return_value == 4


def test_row_naming_a_module_outside_the_apps_is_not_imported(runtasks):
    # Importing `this` prints the Zen of Python: the worker must not run a module a row names.
    django = {"backend": "default", "options": {}, "takes_context": False}
    row = TaskMessageFactory(name="this.zen", options={"django": django})
    after = test_tasks.add.enqueue(2, 2)
    worker = runtasks("--burst", "-c", "1")
    assert worker.wait(timeout=60) == 0

    row.refresh_from_db()
    assert row.state == states.FAILURE
    assert row.exc_type == f"{NotRegistered.__module__}.NotRegistered"
    assert "in module 'this', which is neither loaded, nor part of an installed app" in (
        row.exc_message
    )
    assert "Beautiful is better than ugly" not in worker.output()
    after.refresh()
    assert after.return_value == 4


# -- retries (OPTIONS: Celery's options for all of a backend's tasks, Django 6.0+) -------------


def test_backend_options_retry_a_failing_task_with_the_attempt_counted(settings, burst):
    settings.TASKS = {
        "default": {
            "BACKEND": BACKEND,
            "QUEUES": ["default"],
            "OPTIONS": {"max_retries": 2, "retry_backoff": False, "default_retry_delay": 0},
        }
    }
    result = test_tasks.flaky.enqueue(2)
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == 3  # context.attempt of the attempt that succeeded
    assert result.attempts == 3
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]
    assert "attempt 1" in result.errors[0].traceback
    assert "attempt 2" in result.errors[1].traceback
    assert result.started_at < result.last_attempted_at


def test_backend_options_fail_after_the_last_retry_with_every_error(settings, burst):
    settings.TASKS = {
        "default": {
            "BACKEND": BACKEND,
            "QUEUES": ["default"],
            "OPTIONS": {"max_retries": 1, "retry_backoff": False, "default_retry_delay": 0},
        }
    }
    result = test_tasks.always_fails.enqueue()
    burst()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2
    assert ["attempt 1" in e.traceback for e in result.errors] == [True, False]
    assert ["attempt 2" in e.traceback for e in result.errors] == [False, True]


# -- defer, priority, queues --------------------------------------------------------------------


def test_run_after_in_the_future_waits_and_in_the_past_runs(burst):
    later = timezone.now() + timedelta(hours=1)
    waiting = test_tasks.add.using(run_after=later).enqueue(1, 1)
    due = test_tasks.add.using(run_after=timezone.now() - timedelta(seconds=1)).enqueue(2, 2)
    burst()

    waiting.refresh()
    assert waiting.status == TaskResultStatus.READY
    assert waiting.task.run_after == later
    assert TaskMessage.objects.get(id=waiting.id).eta == later
    due.refresh()
    assert due.return_value == 4


def test_higher_priority_runs_first(burst, executions):
    for priority in (-50, 100, 0, 10, -100, 1):
        test_tasks.record.using(priority=priority).enqueue(f"priority:{priority}")
    burst()

    assert executions("priority:") == [
        "priority:100",
        "priority:10",
        "priority:1",
        "priority:0",
        "priority:-50",
        "priority:-100",
    ]


def test_worker_runs_only_the_queues_it_serves(burst):
    other = test_tasks.add.using(queue_name="other").enqueue(1, 2)
    default = test_tasks.add.enqueue(3, 4)
    burst("-Q", "other")

    other.refresh()
    assert other.return_value == 3
    default.refresh()
    assert default.status == TaskResultStatus.READY


# -- signals ------------------------------------------------------------------------------------


def test_started_and_finished_signals_are_sent_in_the_worker(burst, executions):
    ok = test_tasks.add.enqueue(1, 2)
    bad = test_tasks.failing_value_error.enqueue()
    worker = burst()

    started = executions("started:")
    finished = executions("finished:")
    pids = {key.rsplit(":", 1)[1] for key in started + finished}
    assert len(pids) == 1
    assert pids != {str(os.getpid())}  # the worker's process, not this one
    assert [k.rsplit(":", 1)[0] for k in started] == [
        f"started:{ok.id}:RUNNING:1",
        f"started:{bad.id}:RUNNING:1",
    ]
    assert [k.rsplit(":", 1)[0] for k in finished] == [
        f"finished:{ok.id}:SUCCESSFUL:1",
        f"finished:{bad.id}:FAILED:1",
    ]
    # Django's own receivers log them there too (django.tasks), as ImmediateBackend's do.
    log = worker.output()
    for result, path, final in [(ok, "add", "SUCCESSFUL"), (bad, "failing_value_error", "FAILED")]:
        for state in ("RUNNING", final):
            assert f"Task id={result.id} path=tests.django_api_tasks.{path} state={state}" in log
