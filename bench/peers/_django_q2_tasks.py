"""Task functions for the ``django_q2`` peer.

django-q2 tasks are plain functions, enqueued by their dotted path
(``async_task("bench.peers._django_q2_tasks.noop")``) and imported by the
cluster's worker processes.
"""

from bench.peers import _common as c


def noop() -> None:
    """The benchmark's no-op task."""


def stamp(token: str) -> None:
    """Latency probe: record the start time first thing (see _common)."""
    c.push_stamp("django_q2", token)
