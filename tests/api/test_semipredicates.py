"""Ignore, Reject and Retry: how the tracer treats them (eagerly; the worker's in
test_worker_states)."""

import logging

import pytest

from django_tasks import states
from django_tasks.exceptions import Reject
from tests.api.guide import semipredicates
from tests.api.guide.stubs import noted

pytestmark = pytest.mark.django_db


def test_ignore_ends_ignored():
    result = semipredicates.get_tweets.apply(("ann",))
    # Ignore: no state is recorded, so the result reads PENDING, as in Celery.
    assert result.state == states.PENDING
    assert not result.ready() and result.get() is None


def test_reject_ends_rejected_with_its_reason():
    result = semipredicates.render_scene.apply(("huge",))
    assert result.state == states.REJECTED
    assert result.get() == "MemoryError"
    nomem = semipredicates.render_scene.apply(("nomem",))
    assert (nomem.state, nomem.get()) == (
        states.REJECTED,
        "OSError: [Errno 12] Cannot allocate memory",
    )


def test_render_scene_retries_other_errors_and_renders_good_files():
    flaky = semipredicates.render_scene.apply(("flaky",))
    assert (flaky.state, flaky.retries) == (states.FAILURE, 3)
    assert semipredicates.render_scene.apply(("scene.blend",)).state == states.SUCCESS
    assert noted("rendered:") == ["rendered:scene.blend"]


def test_reject_requeue_needs_acks_late(scratch, caplog):
    from django_tasks import app

    @app.task
    def early():
        raise Reject("try again", requeue=True)

    result = early.apply()
    assert result.state == states.REJECTED
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warning] == [
        f"task id={result.id} name=tests.api.test_semipredicates.early state=REJECTED "
        "worker=- requeue=ignored reason=acks-early"
    ]


def test_reject_with_requeue_and_acks_late_goes_back_to_the_queue():
    result = semipredicates.requeues.apply()
    assert result.state == states.PENDING  # eagerly there is no queue to take it again
