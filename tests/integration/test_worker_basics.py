"""A real runtasks subprocess runs what delay() enqueued, on every vendor."""

import pytest
from django.db import transaction

from django_tasks import states
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_burst_worker_runs_a_delayed_task_and_exits_0(runtasks):
    result = tasks.add.delay(2, 3)
    worker = runtasks("--burst", "-c", "1")
    assert worker.wait(timeout=60) == 0
    assert result.state == states.SUCCESS
    assert result.get(timeout=1) == 5


def test_idle_worker_wakes_for_a_new_task(runtasks, wait_for):
    runtasks("-c", "1")
    result = tasks.add.delay(20, 22)
    assert result.get(timeout=20) == 42


def test_rolled_back_transaction_enqueues_nothing(runtasks):
    from django_tasks.models import TaskMessage

    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.delay(1, 1)
        raise RuntimeError("rollback")
    assert TaskMessage.objects.count() == 0


def test_failure_is_recorded_and_get_reraises_the_same_type(runtasks):
    result = tasks.fail.delay("kaput")
    runtasks("--burst", "-c", "1").wait(timeout=60)
    assert result.state == states.FAILURE
    with pytest.raises(ValueError, match="kaput"):
        result.get(timeout=1)
    assert "ValueError: kaput" in result.traceback


def test_retry_keeps_the_id_and_counts_retries(runtasks):
    result = tasks.flaky.delay(2)
    runtasks("--burst", "-c", "1").wait(timeout=60)
    assert result.state == states.SUCCESS
    assert result.get(timeout=1) == 2
    assert result.retries == 2


def test_unregistered_name_ends_failure_and_the_worker_goes_on(runtasks):
    from tests.factories import TaskMessageFactory

    bad = TaskMessageFactory(name="tests.tasks.nope")
    good = tasks.add.delay(1, 2)
    runtasks("--burst", "-c", "1").wait(timeout=60)
    bad.refresh_from_db()
    assert bad.state == states.FAILURE
    assert bad.exc_type == "django_tasks.exceptions.NotRegistered"
    assert good.get(timeout=1) == 3


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_other_pools_run_tasks(runtasks, pool):
    results = [tasks.add.delay(i, i) for i in range(10)]
    runtasks("--burst", "-P", pool, "-c", "2").wait(timeout=60)
    assert [r.get(timeout=1) for r in results] == [i * 2 for i in range(10)]
