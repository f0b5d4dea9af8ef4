"""Signatures, chains, links and groups (sending and eager runs; workers: test_worker_canvas)."""

import re

import pytest

from django_tasks import GroupResult, chain, group, signature, states
from django_tasks.models import TaskMessage
from tests import tasks
from tests.api import bodies
from tests.api.guide import tips_bad, tips_good
from tests.api.guide.stubs import noted

writes = pytest.mark.django_db(transaction=True)


def test_signatures_hold_task_args_kwargs_and_options():
    sig = tasks.add.s(2, y=2)
    assert (sig.task, sig.args, sig.kwargs, sig.options, sig.immutable) == (
        "tests.tasks.add",
        (2,),
        {"y": 2},
        {},
        False,
    )
    assert repr(sig) == "tests.tasks.add(2, y=2)"
    assert tasks.add.si(1, 1).immutable and repr(tasks.add.si(1, 1)) == "tests.tasks.add(1, 1)!"
    sig = tasks.add.signature((2, 2), countdown=10)
    assert sig.options == {"countdown": 10}
    assert sig.set(queue="q").options == {"countdown": 10, "queue": "q"}
    assert signature("tests.tasks.add", args=(2, 2), countdown=1).options == {"countdown": 1}
    assert tasks.add.subtask((1, 1)) == tasks.add.signature((1, 1))


def test_calling_a_signature_runs_the_task_inline_with_args_added():
    assert tasks.add.s(2)(3) == 5
    assert tasks.add.si(2, 2)() == 4


@writes
def test_a_signature_sends_with_its_options_and_partial_args():
    result = tasks.add.s(2).set(countdown=60, priority=5).delay(3)
    row = TaskMessage.objects.get(id=result.id)
    assert (row.args, row.priority, row.state) == ([3, 2], 5, states.PENDING)
    assert row.run_at > row.created_at


@writes
def test_a_chain_sends_its_first_task_carrying_the_rest():
    result = (tasks.add.s(2, 2) | tasks.add.s(4) | tasks.add.si(1, 1)).apply_async()
    (first,) = TaskMessage.objects.all()
    assert (first.name, first.args) == ("tests.tasks.add", [2, 2])
    assert [s["args"] for s in first.options["chain"]] == [[4], [1, 1]]
    assert first.id == result.parent.parent.id
    assert result.parent.parent.parent is None
    assert [s["options"]["root_id"] for s in first.options["chain"]] == [first.id, first.id]


@writes
def test_a_chain_called_or_delayed_sends_it():
    tips_good.update_page_info("http://example.com/")
    assert TaskMessage.objects.get().name == "tests.api.guide.tips_good.fetch_page"
    chain(tasks.add.s(1, 1), tasks.add.s(1)).delay()
    assert TaskMessage.objects.count() == 2


@pytest.mark.django_db
def test_the_31_texts_chain_without_the_url_fails_at_the_call_naming_it():
    broken = (
        tips_good.fetch_page.s()
        | tips_good.parse_page.s()
        | tips_good.store_page_info.s("http://example.com/")
    )
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Task 'tests.api.guide.tips_good.fetch_page' called with bad arguments: missing a "
            "required argument: 'url'."
        ),
    ):
        broken()
    assert TaskMessage.objects.count() == 0


@writes
def test_a_group_sends_every_member_at_once_with_one_group_id():
    result = group(tasks.add.s(i, i) for i in range(3)).apply_async()
    assert isinstance(result, GroupResult) and len(result) == 3
    rows = TaskMessage.objects.filter(group_id=result.id)
    assert sorted(r.args[0] for r in rows) == [0, 1, 2]
    assert [r.id for r in GroupResult.restore(result.id)] == [r.id for r in result]


@pytest.mark.django_db
def test_chains_links_and_groups_run_eagerly():
    assert (tasks.add.s(2, 2) | tasks.add.s(4) | tasks.add.s(8)).apply().get() == 16
    linked = tasks.add.apply((1, 1), link=tasks.add.s(10))
    assert [c.get() for c in linked.children] == [12]
    assert group(tasks.add.s(i, i) for i in range(4)).apply().get() == [0, 2, 4, 6]
    assert tasks.add.chunks([(i, i) for i in range(5)], 2).apply().get() == [[0, 2], [4, 6], [8]]
    assert tasks.add.map([(1, 1), (2, 2)]).apply().get() == [2, 4]


@pytest.mark.django_db
def test_link_error_calls_the_errback_with_the_failed_tasks_id():
    failed = tasks.fail.apply(link_error=bodies.record_error.s())
    assert failed.state == states.FAILURE
    assert [c.get() for c in failed.children] == [failed.id]
    assert noted("errback:") == [f"errback:{failed.id}"]


@pytest.mark.django_db
def test_under_always_eager_both_page_info_examples_run(settings):
    settings.DJANGO_TASKS = {"ALWAYS_EAGER": True}
    tips_good.update_page_info("http://good/")
    assert tips_bad.update_page_info.delay("http://bad/").state == states.SUCCESS
    assert noted("page:") == ["page:http://bad/:24", "page:http://good/:25"]
