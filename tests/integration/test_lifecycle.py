"""The worker's lifecycle: signals, per-child limits, rate limits, a database that is down."""

import signal
from io import StringIO

import pytest
from django.core.management import call_command

from django_tasks.models import Worker
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_sighup_replaces_the_children_and_work_goes_on(runtasks, wait_for):
    worker = runtasks("-c", "1")
    (before,) = worker.children()
    worker.send_signal(signal.SIGHUP)
    wait_for(lambda: worker.children() and worker.children() != [before], timeout=15)
    assert tasks.add.delay(5, 5).get(timeout=15) == 10
    assert "event=restart-children" in worker.output()


def test_max_memory_per_child_replaces_a_child_over_its_limit(runtasks):
    results = [tasks.context.delay() for _ in range(3)]
    runtasks("--burst", "-c", "1", "--max-memory-per-child", "1").wait(timeout=60)
    assert len({r.get(timeout=1)["pid"] for r in results}) == 3


def test_rate_limited_task_is_spaced_and_does_not_block_others(runtasks):
    limited = [tasks.limited.delay() for _ in range(6)]
    other = tasks.stamp.delay()
    runtasks("--burst", "-c", "1").wait(timeout=60)
    starts = sorted(r.get(timeout=1) for r in limited)
    # 5/s with a bucket of one: six runs span at least a second (less a margin).
    assert starts[-1] - starts[0] >= 0.8
    # The unlimited task ran while the limited ones waited for their tokens.
    assert other.get(timeout=1) < starts[-1]


def test_workers_command_lists_live_workers_with_their_host_and_queues(runtasks, wait_for):
    runtasks("-c", "2", "-n", "edge1", "-Q", "default,mail")
    wait_for(lambda: Worker.objects.filter(hostname="edge1").count() == 3, timeout=15)
    out = StringIO()
    call_command("workers", stdout=out)
    text = out.getvalue()
    assert text.count("edge1.") == 3
    assert "default,mail" in text and "prefork" in text


# Not on MySQL/MariaDB: Django's MySQL backend connects to the server to read its version
# during manage.py's system checks (field checks), so runtasks fails before its own retry
# loop when the server is down at start; it retries once it has started.
@pytest.mark.postgresql
def test_a_database_that_is_down_at_start_is_retried_and_sigterm_still_exits_0(runtasks, wait_for):
    worker = runtasks(
        "-c", "1", env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none"}, wait_ready=False
    )
    wait_for(lambda: worker.output().count("event=db-unavailable") >= 2, timeout=20)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
