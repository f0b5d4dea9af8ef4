# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Task inheritance": ``import celery`` became ``import django_tasks``."""

import django_tasks
from django_tasks import task


class MyTask(django_tasks.Task):

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        print('{0!r} failed: {1!r}'.format(task_id, exc))


@task(base=MyTask)
def add(x, y):
    raise KeyError()
