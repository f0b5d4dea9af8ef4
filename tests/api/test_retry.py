"""``Task.retry`` as the guide describes it, run eagerly (the worker's: test_worker_retry)."""

import re

import pytest

from django_tasks import states
from django_tasks.exceptions import MaxRetriesExceededError, Retry
from tests import tasks
from tests.api import bodies
from tests.api.guide import retrying, retrying_delay
from tests.api.guide.stubs import Twitter, noted

pytestmark = pytest.mark.django_db


def test_a_retry_keeps_the_id_and_counts_retries():
    result = tasks.flaky.apply((2,), task_id="same-id")
    assert (result.id, result.state, result.get(), result.retries) == (
        "same-id",
        states.SUCCESS,
        2,
        2,
    )


def test_max_retries_none_retries_forever():
    result = bodies.retry_forever.apply((6,))  # more than the default 3
    assert (result.state, result.get()) == (states.SUCCESS, 6)


def test_past_max_retries_the_original_exception_is_raised_with_its_traceback():
    result = bodies.retry_limited.apply()
    assert (result.state, result.retries) == (states.FAILURE, 2)
    assert isinstance(result.result, ConnectionError)
    assert str(result.result) == "attempt 2"
    assert 'raise ConnectionError(f"attempt {self.request.retries}")' in result.traceback


def test_past_max_retries_without_exc_raises_max_retries_exceeded():
    result = bodies.retry_without_exc.apply(task_id="r-1")
    assert result.state == states.FAILURE
    with pytest.raises(
        MaxRetriesExceededError,
        match=re.escape("Can't retry tests.api.bodies.retry_without_exc[r-1] args:() kwargs:{}"),
    ):
        result.get()


def test_retry_max_retries_argument_overrides_the_tasks():
    result = bodies.retry_override_limit.apply()
    assert (result.state, result.retries) == (states.FAILURE, 1)


def test_throw_false_lets_the_body_go_on_and_the_task_is_retried_when_it_returns():
    result = bodies.retry_not_thrown.apply()
    assert (result.get(), result.retries) == ("second", 1)
    assert noted(f"{result.id}:") == [f"{result.id}:went on"]


def test_retry_args_replace_the_next_attempts_arguments():
    assert bodies.retry_new_args.apply((0,)).get() == 3


def test_retry_called_directly_reraises_exc():
    with pytest.raises(Twitter.FailWhaleError):
        retrying.send_twitter_status("token", "whale song")  # direct: nothing to retry


def test_the_guides_send_twitter_status_retries_then_gives_up_with_the_twitter_error():
    result = retrying.send_twitter_status.apply(("token", "whale song"))
    assert (result.state, result.retries) == (states.FAILURE, 3)
    assert isinstance(result.result, Twitter.FailWhaleError)
    ok = retrying.send_twitter_status.apply(("token", "hello"))
    assert ok.state == states.SUCCESS
    assert noted("tweet:") == ["tweet:hello"]


def test_the_guides_custom_retry_delay_example_retries_and_fails():
    # default_retry_delay=30*60 and countdown=60: eager runs do not wait for either.
    assert retrying_delay.add.options.default_retry_delay == 1800
    result = retrying_delay.add.apply((1, 2))
    assert (result.state, result.retries) == (states.FAILURE, 3)
    assert isinstance(result.result, ConnectionError)


def test_retry_with_an_unknown_option_fails_the_task_naming_it(scratch):
    from django_tasks import app

    @app.task(bind=True)
    def moving(self):
        raise self.retry(countdown=0, routing_key="x")

    result = moving.apply()
    assert result.state == states.FAILURE
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Task 'tests.api.test_retry.moving': retry() got unknown option 'routing_key'."
        ),
    ):
        result.get()


def test_retry_is_a_semipredicate_exception_with_celerys_text():
    exc = Retry(exc=ValueError("x"), when=10)
    assert str(exc) == "Retry in 10s: ValueError('x')"
    assert str(Retry("Task can be retried", None)) == "Task can be retried"
