"""``self.retry`` in a real worker: same id, retries + 1, RETRY while waiting, every attempt."""

import pytest
from django.utils import timezone

from django_tasks import states
from django_tasks.exceptions import MaxRetriesExceededError
from django_tasks.message import Message
from django_tasks.models import TaskAttempt, TaskMessage
from django_tasks.trace import request_for, trace
from tests import tasks
from tests.api import bodies
from tests.api.guide.stubs import noted
from tests.api.helpers import retry_delay, stop


@pytest.mark.django_db(transaction=True)
def test_retries_in_a_worker(worker, burst, wait_for):
    flaky = tasks.flaky.delay(2)
    later = bodies.retry_later.delay()
    forever = bodies.retry_forever.delay(5)
    limited = bodies.retry_limited.delay()
    no_exc = bodies.retry_without_exc.delay()
    not_thrown = bodies.retry_not_thrown.delay()
    auto = bodies.auto_until.delay(2, "auto")
    fixed = bodies.backoff_fixed.delay("fixed")
    capped = bodies.backoff_capped.delay()
    moved = bodies.retry_elsewhere.delay()
    running = worker("-c", "1", "-n", "retry-host")
    settled = [
        (flaky, states.SUCCESS),
        (forever, states.SUCCESS),
        (limited, states.FAILURE),
        (no_exc, states.FAILURE),
        (not_thrown, states.SUCCESS),
        (auto, states.SUCCESS),
        (later, states.RETRY),
        (fixed, states.RETRY),
        (capped, states.RETRY),
        (moved, states.RETRY),
    ]
    wait_for(lambda: all(r.state == s for r, s in settled), timeout=30)
    out = stop(running)  # before the backoffs (3 and 4 s) come due

    # Same id, retries counted; each attempt kept with its error, traceback, worker, times.
    assert (flaky.state, flaky.get(), flaky.retries) == (states.SUCCESS, 2, 2)
    attempts = list(TaskAttempt.objects.filter(task_id=flaky.id).order_by("number"))
    assert [(a.number, a.state, a.exc_type) for a in attempts] == [
        (1, states.RETRY, "ConnectionError"),
        (2, states.RETRY, "ConnectionError"),
        (3, states.SUCCESS, ""),
    ]
    assert [a.exc_message for a in attempts[:2]] == ["attempt 0", "attempt 1"]
    assert all("Retry in 0s: ConnectionError('attempt" in a.traceback for a in attempts[:2])
    assert all(a.worker.startswith("retry-host.") for a in attempts)
    assert all(a.started_at <= a.finished_at for a in attempts)

    # Waiting for its retry (default_retry_delay=30): RETRY, with the exception to see.
    assert (later.state, later.retries, later.ready()) == (states.RETRY, 1, False)
    assert isinstance(later.result, ConnectionError) and str(later.result) == "later, please"
    assert "ConnectionError: later, please" in later.traceback
    assert 29 < retry_delay(later.id) <= 30

    assert (forever.get(), forever.retries) == (5, 5)  # max_retries=None: past the default 3
    assert (limited.state, limited.retries) == (states.FAILURE, 2)
    with pytest.raises(ConnectionError, match="^attempt 2$"):
        limited.get()
    with pytest.raises(MaxRetriesExceededError):
        no_exc.get()
    assert not_thrown.get() == "second" and noted(f"{not_thrown.id}:") == [
        f"{not_thrown.id}:went on"
    ]
    assert (auto.get(), auto.retries) == (2, 2)

    # retry_backoff=4 without jitter: 4 s; retry_backoff_max=3 caps 60 s at 3 s.
    assert (fixed.retries, capped.retries) == (1, 1)
    assert 3.9 < retry_delay(fixed.id) <= 4 and 2.9 < retry_delay(capped.id) <= 3

    # retry(queue="other", priority=7) moved the task: this worker serves "default" only.
    assert moved.state == states.RETRY
    row = TaskMessage.objects.get(id=moved.id)
    assert (row.queue, row.priority) == ("other", 7)
    burst("-Q", "other")
    assert moved.get() == {"queue": "other", "priority": 7, "redelivered": False}
    assert f"task id={later.id} name=tests.api.bodies.retry_later state=RETRY" in out


@pytest.mark.django_db
def test_retry_jitter_picks_a_random_delay_up_to_the_backoff():
    delays = set()
    for _ in range(30):
        message = Message(id="j", name=bodies.backoff_jitter.name, retries=2)
        request = request_for(message, hostname=None, eager=True, using=None, stored=False)
        before = timezone.now()
        outcome = trace(bodies.backoff_jitter, message, request)
        assert (outcome.state, outcome.retries) == (states.RETRY, 3)
        delays.add(round((outcome.eta - before).total_seconds()))
    assert delays <= set(range(0, 5))  # retry_backoff=True: up to 1 * 2**2 s
    assert len(delays) > 1
