"""``self.request`` on a direct call and in an eager run (the worker's: test_worker_context)."""

import pytest

from django_tasks.request import Request
from tests.api import bodies

pytestmark = pytest.mark.django_db


def test_a_direct_call_has_called_directly_and_no_id():
    ctx = bodies.context_all(1, k="v")
    assert ctx["called_directly"] is True
    assert (ctx["id"], ctx["task"], ctx["args"], ctx["kwargs"]) == (
        None,
        "tests.api.bodies.context_all",
        [1],
        {"k": "v"},
    )
    assert (ctx["retries"], ctx["is_eager"], ctx["hostname"], ctx["delivery_info"]) == (
        0,
        False,
        None,
        {},
    )
    assert (ctx["callbacks"], ctx["errback"], ctx["headers"], ctx["group"], ctx["chain"]) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_an_eager_run_has_is_eager_and_the_same_fields_a_worker_gives():
    result = bodies.context_all.apply(
        (1,),
        {"k": "v"},
        task_id="eager-1",
        headers={"trace": "x"},
        link=bodies.collect.s("k"),
        time_limit=9,
    )
    ctx = result.get()
    assert (ctx["id"], ctx["task"], ctx["args"], ctx["kwargs"]) == (
        "eager-1",
        "tests.api.bodies.context_all",
        [1],
        {"k": "v"},
    )
    assert (ctx["is_eager"], ctx["called_directly"], ctx["retries"]) == (True, False, 0)
    assert ctx["delivery_info"] == {"queue": "default", "priority": 0, "redelivered": False}
    assert ctx["headers"] == {"trace": "x"}
    assert ctx["callbacks"] == [
        {
            "task": "tests.api.bodies.collect",
            "args": ["k"],
            "kwargs": {},
            "options": {},
            "immutable": False,
        }
    ]
    assert (ctx["errback"], ctx["group"], ctx["chain"], ctx["parent_id"]) == (
        None,
        None,
        None,
        None,
    )
    assert (ctx["root_id"], ctx["correlation_id"], ctx["timelimit"]) == (
        "eager-1",
        "eager-1",
        [9, None],
    )
    assert (ctx["utc"], ctx["reply_to"], ctx["chord"]) == (True, None, None)


def test_the_request_is_per_invocation_and_restored_after_a_nested_call():
    outer = bodies.context_all.apply((1,)).get()
    inner = bodies.context_all(2)
    assert outer["called_directly"] is False and inner["called_directly"] is True
    assert bodies.context_all.request.called_directly is True  # nothing runs now


def test_request_get_reads_a_field_or_a_default():
    request = Request(id="x", retries=2)
    assert (request.get("retries"), request.get("nope", "d")) == (2, "d")
