"""
Chords on real workers: the callback runs once, after the last member, with the results in
header order; a member that does not succeed fails the callback with Celery's ChordError.
"""

from __future__ import annotations

import time

import pytest

from django_tasks import chain, chord, group, states
from django_tasks.broker import get_broker
from django_tasks.exceptions import ChordError
from django_tasks.models import ChordCounter, TaskMessage
from tests import tasks
from tests.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def test_chord_header_then_callback_gets_the_results_in_header_order(runtasks):
    result = chord(tasks.add.s(i, i) for i in range(10))(tasks.tsum.s(key="c1"))
    assert TaskMessage.objects.filter(id=result.id).count() == 0  # not before the header
    runtasks("-c", "2")
    assert result.get(timeout=30) == sum(2 * i for i in range(10))
    header = result.parent
    assert [r.get(timeout=5) for r in header.results] == [2 * i for i in range(10)]
    assert Execution.objects.filter(key="c1").count() == 1
    assert not ChordCounter.objects.exists()


def test_every_way_to_write_a_chord_sends_the_callback_with_the_results(runtasks):
    runtasks("-c", "2")
    a = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s()).apply_async()
    b = (group(tasks.add.s(3, 3), tasks.add.s(4, 4)) | tasks.tsum.s()).delay()
    c = chain(group(tasks.add.s(5, 5), tasks.add.s(6, 6)), tasks.tsum.s(), tasks.add.s(100))()
    d = chord(tasks.add.s(i, 0) for i in range(3))(tasks.add.si(7, 7))  # immutable callback
    e = chord([tasks.add.s(1), tasks.add.s(2)]).apply_async((10,), body=tasks.tsum.s())
    assert a.get(timeout=30) == 6
    assert b.get(timeout=30) == 14
    assert c.get(timeout=30) == 122 and c.parent.get(timeout=5) == 22
    assert d.get(timeout=30) == 14
    assert e.get(timeout=30) == 23  # the chord's args go to every header member


def test_a_member_that_is_a_chain_counts_when_its_last_task_finishes(runtasks):
    runtasks("-c", "2")
    result = chord([tasks.add.s(1, 1) | tasks.add.s(10), tasks.add.s(2, 2)])(tasks.tsum.s())
    assert result.get(timeout=30) == 16


def test_a_failed_member_fails_the_callback_with_chord_error_and_runs_its_errback(runtasks):
    body = tasks.tsum.s(key="never")
    body.link_error(tasks.record.si("errback-ran"))
    result = chord([tasks.add.s(1, 1), tasks.fail.s("boom"), tasks.add.s(2, 2)])(body)
    runtasks("-c", "2")
    with pytest.raises(ChordError) as raised:
        result.get(timeout=30)
    failed = result.parent.results[1]
    assert str(raised.value) == f"Dependency {failed.id} raised ValueError('boom')"
    assert result.state == states.FAILURE
    assert not Execution.objects.filter(key="never").exists()
    deadline = time.monotonic() + 20
    while not Execution.objects.filter(key="errback-ran").exists():
        assert time.monotonic() < deadline, "the callback's errback did not run"
        time.sleep(0.1)


def test_a_revoked_member_fails_the_callback_once_the_others_finish(runtasks):
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)])(tasks.tsum.s())
    revoked = result.parent.results[0]
    revoked.revoke()
    runtasks("-c", "1")
    with pytest.raises(ChordError, match=f"Dependency {revoked.id} raised TaskRevokedError"):
        result.get(timeout=30)


def test_members_keep_their_results_even_with_ignore_result(runtasks):
    runtasks("-c", "1")
    result = chord(tasks.double_ignored.s(i) for i in range(4))(tasks.tsum.s())
    assert result.get(timeout=30) == 12


def test_a_member_knows_its_chord(runtasks):
    runtasks("-c", "1")
    result = chord([tasks.chord_of.s(1)])(tasks.context.s())
    (seen,) = result.parent.get(timeout=30)
    assert seen["chord"] == "tests.tasks.context"
    assert seen["group"] == result.parent.id


def test_an_empty_header_sends_the_callback_at_once_with_no_results(runtasks):
    runtasks("-c", "1")
    assert chord([])(tasks.tsum.s()).get(timeout=30) == 0


def test_a_member_requeued_before_the_chord_completes_counts_again():
    broker = get_broker("default")
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)])(tasks.tsum.s())
    # One member fails (whichever the claim returns: both have the same priority and
    # time); an operator requeues it before the other has finished.
    (message,) = broker.claim("w1", ["default"], 1)
    from django_tasks.message import Outcome

    broker.finish("w1", [Outcome(id=message.id, state=states.FAILURE, exc_type="x.Boom")])
    assert ChordCounter.objects.get().done == 1
    assert broker.requeue([message.id]) == 1
    assert ChordCounter.objects.get().done == 0
    claimed = broker.claim("w1", ["default"], 2)
    broker.finish(
        "w1", [Outcome(id=m.id, state=states.SUCCESS, result=m.args[0] * 2) for m in claimed]
    )
    assert not ChordCounter.objects.exists()
    callback = TaskMessage.objects.get(id=result.id)
    assert callback.state == states.PENDING and callback.args[0] == [2, 4]


def test_a_wrong_callback_is_refused_when_the_chord_is_sent():
    with pytest.raises(TypeError, match="tests.tasks.add"):
        chord([tasks.add.s(1, 1)])(tasks.add.s(1, 2, 3))
    assert not TaskMessage.objects.exists() and not ChordCounter.objects.exists()
    with pytest.raises(TypeError, match="only come first"):
        chain(tasks.add.s(1, 1), group(tasks.add.s(1), tasks.add.s(2)))


def test_eager_chord_runs_header_and_callback_here(settings):
    settings.DJANGO_TASKS = {**settings.DJANGO_TASKS, "ALWAYS_EAGER": True}
    result = chord(tasks.add.s(i, i) for i in range(3))(tasks.tsum.s())
    assert result.get() == 6
    failed = chord([tasks.fail.s("no")])(tasks.tsum.s())
    assert failed.state == states.FAILURE
    with pytest.raises(ChordError, match="raised ValueError\\('no'\\)"):
        failed.get()


def test_children_are_the_tasks_a_task_sent(runtasks):
    runtasks("-c", "1")
    first = (tasks.add.s(1, 1) | tasks.add.s(1)).apply_async().parent
    first.get(timeout=30)
    deadline = time.monotonic() + 10
    while not first.children:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [c.get(timeout=10) for c in first.children] == [3]
