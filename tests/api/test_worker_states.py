"""States seen from another process while a real worker runs the task."""

import pytest

from django_tasks import states
from django_tasks.models import Worker
from tests import tasks
from tests.api import bodies

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_and_started_are_visible_at_once_from_another_process(worker, wait_for):
    progress = tasks.progress.delay(4, 0.4)
    tracked = bodies.tracked.delay(1.5)
    running = worker("-c", "2", "-n", "states-host")

    seen = wait_for(lambda: progress.state == "PROGRESS" and progress.info, timeout=20)
    assert seen in ({"current": i, "total": 4} for i in range(4))
    wait_for(lambda: progress.info == {"current": 3, "total": 4}, timeout=10)

    wait_for(lambda: tracked.state == states.STARTED, timeout=20)
    info = tracked.info
    assert info["hostname"] == "states-host"
    assert info["pid"] in running.children()
    assert Worker.objects.get(pid=info["pid"]).hostname == "states-host"
    assert not tracked.ready()

    assert (progress.get(timeout=20), tracked.get(timeout=20)) == (4, 1.5)
    assert progress.state == tracked.state == states.SUCCESS


def test_ignore_reject_and_expiry_end_states(burst):
    from datetime import timedelta

    from django.utils import timezone

    ignored = tasks.ignore_me.delay()
    kept = bodies.progress_then_ignore.delay()
    rejected = tasks.reject_me.delay()
    expired = tasks.add.apply_async((1, 1), expires=timezone.now() - timedelta(seconds=1))
    short = bodies.short_lived.delay()  # expires=0.01 s: gone by the time a worker looks
    burst()
    # Ignore: no state recorded (PENDING, as in Celery); get() returns instead of waiting.
    assert ignored.state == states.PENDING and ignored.get() is None
    # Ignore after update_state: the task's own state and meta stay, even after the worker
    # stopped (its rows were recovered).
    assert (kept.state, kept.info) == ("PROGRESS", {"current": 1, "total": 2})
    assert (rejected.state, rejected.result) == (states.REJECTED, "no thanks")
    assert expired.state == short.state == states.REVOKED
    from django_tasks.exceptions import TaskRevokedError

    with pytest.raises(TaskRevokedError):
        expired.get()
    from tests.api.guide.stubs import noted

    assert noted("short-lived") == []
