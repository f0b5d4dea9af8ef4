"""Chains, links and groups run by real workers."""

import re

import pytest

from django_tasks import group, states
from django_tasks.exceptions import ImproperlyUsed
from django_tasks.models import TaskMessage
from tests import tasks
from tests.api import bodies
from tests.api.guide.stubs import noted

pytestmark = pytest.mark.django_db(transaction=True)


def test_chains_links_and_groups_in_a_worker(burst, vendor):
    chained = (tasks.add.s(2, 2) | tasks.add.s(4) | tasks.add.s(8)).delay()
    immutable = (tasks.add.s(1, 1) | tasks.add.si(5, 5)).delay()
    broken = (tasks.add.s(1, 1) | tasks.fail.s() | tasks.add.s(5)).delay()
    linked = tasks.add.apply_async((1, 1), link=bodies.collect.s("linked"))
    errback = tasks.fail.apply_async(("x",), link_error=bodies.record_error.s())
    grouped = group(tasks.add.s(i, i) for i in range(5)).delay()
    burst()

    # Each result goes first to the next task; the chain's results link back by parent.
    assert chained.get() == 16
    assert [chained.parent.get(), chained.parent.parent.get()] == [8, 4]
    rows = {r.id: r for r in TaskMessage.objects.all()}
    second, first = rows[chained.parent.id], rows[chained.parent.parent.id]
    assert (second.parent_id, rows[chained.id].parent_id) == (first.id, second.id)
    if vendor == "postgresql":
        # The next task was inserted by the statement's transaction that recorded the
        # previous task's success: one transaction, one now().
        assert second.created_at == first.done_at
        assert rows[chained.id].created_at == second.done_at
    assert immutable.get() == 10  # si(): the previous result is not passed
    assert broken.parent.state == states.FAILURE  # the failing step ends the chain
    assert broken.id not in rows and broken.state == states.PENDING

    assert noted("linked:") == ["linked:2"]
    assert TaskMessage.objects.get(name="tests.api.bodies.collect").parent_id == linked.id
    assert noted("errback:") == [f"errback:{errback.id}"]
    assert grouped.get() == [0, 2, 4, 6, 8]
    assert grouped.successful() and grouped.completed_count() == 5


def test_get_inside_a_task_raises_unless_sync_subtasks_are_allowed(worker):
    blocked = bodies.wait_for_subtask.delay()
    allowed = bodies.wait_for_subtask_allowed.delay()
    worker("-c", "2")
    with pytest.raises(
        ImproperlyUsed,
        match=re.escape("Task 'tests.api.bodies.wait_for_subtask' called result.get() on task "),
    ) as raised:
        blocked.get(timeout=30)
    assert str(raised.value).endswith(
        ": waiting for a subtask inside a task can deadlock the worker; use a chain (or pass "
        "disable_sync_subtasks=False)."
    )
    assert allowed.get(timeout=30) == 4
