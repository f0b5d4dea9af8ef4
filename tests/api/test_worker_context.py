"""Every field of ``self.request`` as a real worker sets it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from django_tasks import AsyncResult, group
from tests.api import bodies

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_request_in_a_worker(burst):
    eta = timezone.now() - timedelta(seconds=1)
    full = bodies.context_all.apply_async(
        (1,),
        {"k": "v"},
        eta=eta,
        expires=600,
        priority=5,
        headers={"h": 1},
        link=bodies.collect.s("linked"),
        link_error=bodies.record_error.s(),
        time_limit=60,
        soft_time_limit=50,
    )
    chained = (bodies.context_all.s("first") | bodies.context_all.s()).delay()
    grouped = group(bodies.context_all.s(i) for i in range(2)).delay()
    parent = bodies.send_child.delay()
    worker = burst("-n", "ctx-host")

    ctx = full.get()
    assert (ctx["id"], ctx["task"], ctx["args"], ctx["kwargs"]) == (
        full.id,
        "tests.api.bodies.context_all",
        [1],
        {"k": "v"},
    )
    assert (ctx["retries"], ctx["is_eager"], ctx["called_directly"]) == (0, False, False)
    assert ctx["eta"] == eta.isoformat()
    assert ctx["expires"] > eta.isoformat()
    assert ctx["hostname"] == "ctx-host"
    assert ctx["pid"] != worker.pid  # a child process ran it, not the supervisor
    assert ctx["delivery_info"] == {"queue": "default", "priority": 5, "redelivered": False}
    assert [s["task"] for s in ctx["callbacks"]] == ["tests.api.bodies.collect"]
    assert [s["task"] for s in ctx["errback"]] == ["tests.api.bodies.record_error"]
    assert ctx["errbacks"] == ctx["errback"]
    assert ctx["headers"] == {"h": 1}
    assert (ctx["group"], ctx["chain"], ctx["parent_id"], ctx["root_id"]) == (
        None,
        None,
        None,
        full.id,
    )
    assert (ctx["timelimit"], ctx["correlation_id"], ctx["utc"]) == ([60, 50], full.id, True)

    first, second = chained.parent.get(), chained.get()
    assert [s["task"] for s in first["chain"]] == ["tests.api.bodies.context_all"]
    assert second["args"] == [first]  # the previous result, first
    assert (second["parent_id"], second["root_id"], second["chain"]) == (
        chained.parent.id,
        chained.parent.id,
        None,
    )

    child = AsyncResult(parent.get()).get()
    assert (child["parent_id"], child["root_id"]) == (parent.id, parent.id)

    members = grouped.get()
    assert [m["args"] for m in members] == [[0], [1]]
    assert {m["group"] for m in members} == {grouped.id}
