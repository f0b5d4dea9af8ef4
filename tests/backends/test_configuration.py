"""
DatabaseBackend without the database: its flags, validation, priority mapping and checks.

Where Django's own suite (tests/tasks/ in Django's repository) has a case that applies to
any backend, the same case is here.
"""

from __future__ import annotations

import re
from datetime import datetime

import django
import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0 or later")

from django.tasks import (  # noqa: E402
    DEFAULT_TASK_QUEUE_NAME,
    default_task_backend,
    task,
    task_backends,
)
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY  # noqa: E402
from django.tasks.checks import check_tasks  # noqa: E402
from django.tasks.exceptions import InvalidTask  # noqa: E402
from django.utils import timezone  # noqa: E402

from django_tasks.backends import DatabaseBackend, DatabaseTask, to_queue_priority  # noqa: E402
from tests import django_api_tasks as test_tasks  # noqa: E402

BACKEND = "django_tasks.backends.DatabaseBackend"


def backend_settings(**entry):
    return {"default": {"BACKEND": BACKEND, **entry}}


def not_a_context_task():
    return 42


def our_errors():
    # Django's own check of every TASKS backend, as manage.py check runs it.
    return [m for m in check_tasks() if m.id.startswith("django_tasks.E1")]


# -- the backend and its flags ------------------------------------------------------------------


def test_using_correct_backend():
    assert default_task_backend == task_backends["default"]
    assert isinstance(task_backends["default"], DatabaseBackend)
    assert default_task_backend.alias == "default"
    assert default_task_backend.options == {}


def test_every_capability_flag_is_on():
    # Each is backed by a test of its behaviour in test_worker.py: run_after
    # (test_run_after_in_the_future_waits), async bodies (test_async_task_body_...), results
    # read from another process (every worker test), priority (test_higher_priority_...).
    backend = default_task_backend
    assert backend.supports_defer is True
    assert backend.supports_async_task is True
    assert backend.supports_get_result is True
    assert backend.supports_priority is True


def test_task_decorator_builds_the_backends_task_class():
    assert isinstance(test_tasks.noop, DatabaseTask)
    assert isinstance(test_tasks.noop_async, DatabaseTask)
    assert isinstance(test_tasks.noop_from_bare_decorator, DatabaseTask)


def test_using_returns_a_new_task_and_keeps_the_original():
    now = timezone.now()
    changed = test_tasks.noop.using(priority=10, queue_name="other", run_after=now)

    assert (changed.priority, changed.queue_name, changed.run_after) == (10, "other", now)
    assert isinstance(changed, DatabaseTask)
    assert test_tasks.noop.priority == 0
    assert test_tasks.noop.queue_name == DEFAULT_TASK_QUEUE_NAME
    assert test_tasks.noop.run_after is None


# -- validation ---------------------------------------------------------------------------------


def test_naive_run_after_is_invalid():
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime."):
        test_tasks.noop.using(run_after=datetime.now())


@pytest.mark.parametrize("priority", [-101, 101, 3.1])
def test_priority_outside_djangos_range_is_invalid(priority):
    message = (
        f"priority must be a whole number between {TASK_MIN_PRIORITY} and {TASK_MAX_PRIORITY}."
    )
    with pytest.raises(InvalidTask, match=re.escape(message)):
        test_tasks.noop.using(priority=priority)


@pytest.mark.parametrize("priority", [-100, 0, 100])
def test_priority_inside_djangos_range_is_valid(priority):
    assert test_tasks.noop.using(priority=priority).priority == priority


def test_unknown_queue_name_is_invalid():
    with pytest.raises(InvalidTask, match=re.escape("Queue 'queue-2' is not valid for backend.")):
        test_tasks.noop.using(queue_name="queue-2")


def test_empty_queues_allow_any_queue_name(settings):
    settings.TASKS = backend_settings(QUEUES=[])
    assert test_tasks.noop.using(queue_name="queue-2").queue_name == "queue-2"


def test_queue_name_longer_than_a_row_holds_is_invalid(settings):
    settings.TASKS = backend_settings(QUEUES=[])
    with pytest.raises(InvalidTask, match="Queue name must be 1 to 100 characters"):
        test_tasks.noop.using(queue_name="q" * 101)


def test_function_not_at_module_level_is_invalid():
    def local():
        pass

    for invalid in (any, local):
        with pytest.raises(InvalidTask, match="Task function must be defined at a module level."):
            task()(invalid)


def test_takes_context_without_taking_context_is_invalid():
    expected = "Task takes context but does not have a first argument of 'context'."
    with pytest.raises(InvalidTask, match=re.escape(expected)):
        task(takes_context=True)(not_a_context_task)


# -- priority mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("django_priority", "ours"),
    [
        (-100, 0),
        (-76, 0),
        (-75, 1),
        (-51, 1),
        (-50, 2),
        (-26, 2),
        (-25, 3),
        (-1, 3),
        (0, 4),
        (1, 5),
        (20, 5),
        (21, 6),
        (40, 6),
        (41, 7),
        (60, 7),
        (61, 8),
        (80, 8),
        (81, 9),
        (100, 9),
    ],
)
def test_priority_maps_onto_0_to_9(django_priority, ours):
    assert to_queue_priority(django_priority) == ours


def test_priority_mapping_keeps_order():
    mapped = [to_queue_priority(p) for p in range(-100, 101)]
    assert mapped == sorted(mapped)


# -- system checks ------------------------------------------------------------------------------


def test_check_reports_nothing_for_a_good_configuration():
    assert default_task_backend.check() == []
    assert our_errors() == []


def test_unknown_option_is_a_system_check_error(settings):
    settings.TASKS = backend_settings(OPTIONS={"max_retry": 3})
    assert [(e.id, e.msg) for e in our_errors()] == [
        (
            "django_tasks.E104",
            "TASKS['default']['OPTIONS']['max_retry'] is not an option. Did you mean "
            "'max_retries'?",
        )
    ]


def test_bad_option_value_is_a_system_check_error(settings):
    settings.TASKS = backend_settings(OPTIONS={"rate_limit": "fast", "on_commit": "yes"})
    assert [e.msg for e in our_errors()] == [
        "TASKS['default']['OPTIONS']['rate_limit'] must be a rate like '10/s', '100/m', "
        "'1000/h' or a number of tasks per second, not 'fast'.",
        "TASKS['default']['OPTIONS']['on_commit'] must be True or False, not 'yes'.",
    ]


def test_soft_time_limit_above_time_limit_is_a_system_check_error(settings):
    settings.TASKS = backend_settings(OPTIONS={"time_limit": 5, "soft_time_limit": 10})
    assert [e.msg for e in our_errors()] == [
        "TASKS['default']['OPTIONS']['soft_time_limit'] (10) must not exceed time_limit (5)."
    ]


def test_bad_queue_name_is_a_system_check_error(settings):
    settings.TASKS = backend_settings(QUEUES=["default", ""])
    assert [(e.id, e.msg) for e in our_errors()] == [
        (
            "django_tasks.E103",
            "TASKS['default']['QUEUES'] holds ''; a queue name must be a string of 1 to 100 "
            "characters.",
        )
    ]


def test_django_version_check_is_silent_from_django_6():
    from django_tasks.backends import check_django_version

    assert check_django_version() == []


@pytest.mark.skipif(django.VERSION < (6, 1), reason="Django 6.1 made Tasks picklable")
def test_task_pickles_with_its_options_unset():
    import pickle

    assert pickle.loads(pickle.dumps(test_tasks.noop)) == test_tasks.noop  # noqa: S301
