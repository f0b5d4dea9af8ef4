"""Task options as a real worker applies them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from django_tasks import app, states
from django_tasks.models import TaskMessage
from tests import tasks
from tests.api import bodies
from tests.factories import TaskMessageFactory
from tests.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def test_options_in_a_worker(burst):
    low = [bodies.ordinary.delay(f"low-{i}") for i in range(2)]
    high = bodies.urgent.delay("high")
    other = bodies.on_other_queue.delay()
    ignored = bodies.ignored_result.delay()
    kept = bodies.ignored_result_errors_kept.delay()
    dropped = bodies.ignored_result_errors_dropped.delay()
    untyped = bodies.untyped.delay(8)
    burst()

    # priority 9 runs before the priority-0 tasks enqueued earlier
    assert list(Execution.objects.order_by("pk").values_list("key", flat=True)) == [
        "high",
        "low-0",
        "low-1",
    ]
    assert all(r.state == states.SUCCESS for r in (*low, high))
    # queue="other": a worker of the default queue leaves it alone
    assert other.state == states.PENDING
    burst("-Q", "other")
    assert other.get() == "other"
    # ignore_result: no state kept (PENDING, as the guide says); errors kept only when asked
    assert (ignored.state, ignored.result) == (states.PENDING, None)
    assert (kept.state, type(kept.result)) == (states.FAILURE, ValueError)
    assert (dropped.state, dropped.result, dropped.traceback) == (states.PENDING, None, None)
    # typing=False: the bad call went through and fails in the worker, as the guide says
    assert untyped.state == states.FAILURE
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'y'"):
        untyped.get()


def test_settings_and_built_in_tasks_in_the_worker(burst):
    long_ago = timezone.now() - timedelta(hours=2)
    old = TaskMessageFactory(state=states.SUCCESS, created_at=long_ago, done_at=long_ago)
    result = tasks.add.delay(1, 2)
    printed = bodies.log_and_print.delay("raw")
    cleanup = app.tasks["django_tasks.backend_cleanup"].delay()
    out = burst(
        extra={"IGNORE_RESULT": True, "REDIRECT_STDOUTS": False, "RESULT_EXPIRES": 3600}
    ).output()
    # IGNORE_RESULT: the worker keeps no result of any task (its row is gone)
    assert (result.state, result.result) == (states.PENDING, None)
    # REDIRECT_STDOUTS off: print writes to the worker's stdout as is, not to the log
    assert "\nprinted raw\n" in out and printed.state == states.PENDING
    # backend_cleanup: finished rows older than RESULT_EXPIRES are gone
    assert cleanup.state == states.PENDING  # ignore_result: it ran, and kept no row
    assert not TaskMessage.objects.filter(id=old.id).exists()
