"""Task definitions for the ``django_ox`` peer (Django 6 ``django.tasks``).

Imported only once Django is set up (by the harness and by ``ox_worker``); the
workers resolve the tasks by their import path ``bench.peers._django_ox_tasks.*``.
"""

from django.tasks import task

from bench.peers import _common as c


@task()
def noop() -> None:
    """The benchmark's no-op task."""


@task()
def stamp(token: str) -> None:
    """Latency probe: record the start time first thing (see _common)."""
    c.push_stamp("django_ox", token)
