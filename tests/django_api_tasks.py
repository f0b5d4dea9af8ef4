"""
Task bodies defined with Django's own ``django.tasks.task`` (tests/backends).

The ``runtasks`` workers import this module by the module paths the rows name, so every body
lives here at module level. Imported only on Django >= 6.0; the bodies that use Celery's
options on ``@task`` need Django 6.1 (``@task(**kwargs)``) and are defined only there.
"""

from __future__ import annotations

import asyncio
import os
import time

import django
from django.tasks import TaskContext, task
from django.tasks.signals import task_finished, task_started

from tests.models import insert_key


@task()
def noop(*args, **kwargs):
    return None


@task
def noop_from_bare_decorator(*args, **kwargs):
    return None


@task()
async def noop_async(*args, **kwargs):
    return None


@task()
def calculate_meaning_of_life():
    return 42


@task()
def add(x, y):
    return x + y


@task()
async def async_add(x, y):
    await asyncio.sleep(0.01)
    return x + y


@task()
def failing_value_error():
    raise ValueError("This Task failed due to ValueError")


@task()
def failing_system_exit():
    raise SystemExit("This Task failed due to SystemExit")


@task()
def complex_exception():
    raise ValueError(ValueError("This task failed"))


@task()
def complex_return_value():
    # Something neither JSON nor picklable.
    return lambda: True


@task(takes_context=True)
def get_task_id(context):
    return context.task_result.id


@task(takes_context=True)
def context_of(context, attempt):
    assert isinstance(context, TaskContext)
    assert context.attempt == attempt
    r = context.task_result
    return {
        "id": r.id,
        "status": r.status,
        "attempt": context.attempt,
        "worker_ids": r.worker_ids,
        "backend": r.backend,
        "args": r.args,
    }


@task(takes_context=True)
def always_fails(context):
    raise ConnectionError(f"attempt {context.attempt}")


@task(takes_context=True)
def flaky(context, failures):
    """Fail the first `failures` attempts, then return the attempt that succeeded."""
    if context.attempt <= failures:
        raise ConnectionError(f"attempt {context.attempt}")
    return context.attempt


@task()
def record(key):
    """Insert `key` into tests_execution (its id gives the order tasks ran in)."""
    insert_key("tests_execution", key)
    return key


@task()
def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


if django.VERSION >= (6, 1):
    # Celery's options on Django's decorator (Django 6.1 forwards @task's keywords).

    @task(takes_context=True, max_retries=2, retry_backoff=False, default_retry_delay=0)
    def flaky_retrying(context, failures):
        if context.attempt <= failures:
            raise ConnectionError(f"attempt {context.attempt}")
        return context.attempt

    @task(max_retries=1, retry_backoff=1, retry_jitter=False)
    def fails_with_backoff():
        raise ConnectionError("down")

    @task(time_limit=1)
    def over_time_limit():
        time.sleep(30)

    @task(soft_time_limit=0.3)
    def over_soft_time_limit():
        time.sleep(30)

    @task(rate_limit="1/m")
    def rate_limited(key):
        return key

    @task(acks_late=True)
    def late(key):
        return key

    @task(expires=0)
    def expires_at_once():
        return "ran"


# Django's task_started and task_finished, as receivers in the worker see them: one row each
# in tests_execution, so a test (another process) can read when, where and with what status.
def _record_signal(name):
    def receiver(sender, task_result, **kwargs):
        key = f"{name}:{task_result.id}:{task_result.status}:{task_result.attempts}:{os.getpid()}"
        insert_key("tests_execution", key)

    return receiver


_on_started = _record_signal("started")
_on_finished = _record_signal("finished")
task_started.connect(_on_started, dispatch_uid="tests.django_api_tasks.started")
task_finished.connect(_on_finished, dispatch_uid="tests.django_api_tasks.finished")
