"""The broker contract, written once, run on every vendor (SQLite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_tasks import states
from django_tasks.broker import get_broker
from django_tasks.message import Message, Outcome
from django_tasks.models import TaskAttempt, TaskMessage, Worker
from django_tasks.worker.slots import UNKNOWN
from tests.factories import TaskAttemptFactory, TaskMessageFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)
LOST = "django_tasks.exceptions.WorkerLostError"


@pytest.fixture
def broker():
    return get_broker()


def _msg(**kw) -> Message:
    return Message(
        id=kw.pop("id", str(uuid.uuid4())),
        name=kw.pop("name", "tests.tasks.add"),
        args=kw.pop("args", (1, 2)),
        **kw,
    )


def test_enqueue_writes_pending_rows_due_at_their_eta(broker):
    later = timezone.now() + timedelta(hours=1)
    broker.enqueue([_msg(id="a"), _msg(id="b", eta=later, priority=5, queue="mail")])
    a, b = TaskMessage.objects.get(id="a"), TaskMessage.objects.get(id="b")
    assert (a.state, a.args, a.queue) == (states.PENDING, [1, 2], "default")
    assert (b.run_at, b.priority, b.queue) == (later, 5, "mail")


def test_claim_takes_due_rows_highest_priority_then_oldest_and_numbers_them(broker):
    now = timezone.now()
    TaskMessageFactory(id="old-low", priority=0, run_at=now - timedelta(minutes=2))
    TaskMessageFactory(id="new-high", priority=9, run_at=now - timedelta(minutes=1))
    TaskMessageFactory(id="old-high", priority=9, run_at=now - timedelta(minutes=3))
    TaskMessageFactory(id="future", run_at=now + timedelta(hours=1))
    TaskMessageFactory(id="other-queue", queue="mail")
    claimed = broker.claim("w1", ["default"], limit=10, first_seq=40)
    assert [m.id for m in claimed] == ["old-high", "new-high", "old-low"]
    assert [m.claim_seq for m in claimed] == [41, 42, 43]
    rows = TaskMessage.objects.filter(id__in=["old-high", "new-high", "old-low"])
    assert {(r.state, r.worker) for r in rows} == {(states.RECEIVED, "w1")}


def test_claim_over_several_queues_keeps_priority_order_across_them(broker):
    """Each served queue is read on its own (its index), yet the batch is the best rows of
    all of them: priority first, then the longest waiting, whichever queue they are in."""
    now = timezone.now()
    TaskMessageFactory(id="mail-9", queue="mail", priority=9, run_at=now - timedelta(minutes=1))
    TaskMessageFactory(id="mail-0", queue="mail", priority=0, run_at=now - timedelta(minutes=9))
    TaskMessageFactory(id="default-5", priority=5, run_at=now - timedelta(minutes=2))
    TaskMessageFactory(id="default-0", priority=0, run_at=now - timedelta(minutes=8))
    TaskMessageFactory(id="bulk-9", queue="bulk", priority=9, run_at=now - timedelta(minutes=5))
    claimed = broker.claim("w1", ["default", "mail"], limit=3)
    assert [m.id for m in claimed] == ["mail-9", "default-5", "mail-0"]
    assert [m.id for m in broker.claim("w1", ["mail", "default"], limit=3)] == ["default-0"]
    assert broker.seconds_until_due(["bulk", "mail"]) <= 0
    assert broker.seconds_until_due(["mail", "nothing-here"]) is None


def test_claim_respects_its_limit_and_never_returns_a_row_twice(broker):
    for i in range(5):
        TaskMessageFactory(id=f"t{i}")
    first = broker.claim("w1", ["default"], limit=3)
    second = broker.claim("w2", ["default"], limit=3)
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    assert broker.claim("w3", ["default"], limit=3) == []


@pytest.mark.postgresql
@pytest.mark.mysql
def test_claim_skips_rows_locked_by_another_connection(broker, second_connection):
    TaskMessageFactory(id="locked")
    TaskMessageFactory(id="free")
    second_connection.set_autocommit(False)
    with second_connection.cursor() as cursor:
        cursor.execute("SELECT id FROM django_tasks_taskmessage WHERE id = 'locked' FOR UPDATE")
    try:
        claimed = broker.claim("w1", ["default"], limit=10)
    finally:
        second_connection.rollback()
        second_connection.set_autocommit(True)
    assert [m.id for m in claimed] == ["free"]


def test_finish_records_outcomes_of_held_rows_only(broker):
    TaskMessageFactory(id="mine")
    TaskMessageFactory(id="revoked")
    broker.claim("w1", ["default"], limit=10)
    broker.revoke(["revoked"], terminate=True)
    broker.finish(
        "w1",
        [
            Outcome(id="mine", state=states.SUCCESS, result=3),
            Outcome(id="revoked", state=states.SUCCESS, result=3),
        ],
    )
    mine, revoked = TaskMessage.objects.get(id="mine"), TaskMessage.objects.get(id="revoked")
    assert (mine.state, mine.result) == (states.SUCCESS, 3)
    assert mine.done_at is not None
    assert revoked.state == states.REVOKED


def test_finish_enqueues_follow_ups_in_the_same_transaction(broker):
    TaskMessageFactory(id="parent")
    broker.claim("w1", ["default"], limit=1)
    child = _msg(id="child", args=(3, 4))
    broker.finish("w1", [Outcome(id="parent", state=states.SUCCESS, result=3, follow_ups=(child,))])
    assert TaskMessage.objects.get(id="child").state == states.PENDING
    # A second finish of the same row changes nothing and enqueues nothing twice.
    broker.finish(
        "w1",
        [Outcome(id="parent", state=states.SUCCESS, result=3, follow_ups=(_msg(id="child2"),))],
    )
    assert not TaskMessage.objects.filter(id="child2").exists()


def test_retry_outcome_makes_the_same_row_due_again_and_keeps_the_attempt(broker):
    TaskMessageFactory(id="r")
    broker.claim("w1", ["default"], limit=1)
    eta = timezone.now() + timedelta(seconds=60)
    broker.finish(
        "w1",
        [
            Outcome(
                id="r",
                state=states.RETRY,
                eta=eta,
                retries=1,
                exc_type="ConnectionError",
                exc_message="down",
                priority=7,
                queue="slow",
            )
        ],
    )
    row = TaskMessage.objects.get(id="r")
    assert (row.state, row.retries, row.run_at, row.worker) == (states.RETRY, 1, eta, "")
    assert (row.priority, row.queue) == (7, "slow")
    attempt = TaskAttempt.objects.get(task_id="r")
    assert (attempt.number, attempt.state, attempt.exc_type) == (1, states.RETRY, "ConnectionError")


def test_recover_fails_started_rows_and_requeues_the_rest(broker):
    for i in range(4):
        TaskMessageFactory(id=f"t{i}")
    TaskMessageFactory(id="late", acks_late=True)
    claimed = broker.claim("w1", ["default"], limit=10)
    by_id = {m.id: m.claim_seq for m in claimed}
    marker = by_id["t1"]  # t0 and t1 had started when the worker died
    requeued, failed = broker.recover("w1", start_marker=marker)
    rows = {r.id: r for r in TaskMessage.objects.all()}
    started = {i for i, s in by_id.items() if s <= marker}
    assert {i for i, r in rows.items() if r.state == states.FAILURE} == started - {"late"}
    assert all(rows[i].exc_type == LOST for i in started - {"late"})
    assert rows["late"].state == states.PENDING and rows["late"].redelivered
    assert all(rows[i].state == states.PENDING for i in by_id if i not in started)
    assert failed == len(started - {"late"})
    assert requeued == 5 - failed


def test_recover_with_an_unknown_marker_never_runs_a_held_row_again(broker):
    TaskMessageFactory(id="a")
    broker.claim("w1", ["default"], limit=1)
    broker.recover("w1", start_marker=UNKNOWN)
    assert TaskMessage.objects.get(id="a").state == states.FAILURE


def test_release_puts_claimed_rows_back_due_after_their_delay(broker):
    TaskMessageFactory(id="a")
    broker.claim("w1", ["default"], limit=1)
    assert broker.release("w1", [("a", 30.0)]) == 1
    row = TaskMessage.objects.get(id="a")
    assert (row.state, row.worker, row.redelivered) == (states.PENDING, "", False)
    assert row.run_at > timezone.now() + timedelta(seconds=25)
    assert broker.claim("w1", ["default"], limit=1) == []


def test_requeue_runs_finished_rows_again_with_the_same_id_and_skips_others(broker):
    TaskMessageFactory(
        id="failed", state=states.FAILURE, exc_type="ValueError", done_at=timezone.now()
    )
    TaskMessageFactory(id="running", state=states.STARTED, worker="w9")
    assert broker.requeue(["failed", "running"]) == 1
    row = TaskMessage.objects.get(id="failed")
    assert (row.state, row.exc_type, row.done_at) == (states.PENDING, "", None)
    assert TaskMessage.objects.get(id="running").state == states.STARTED


def test_revoked_waiting_rows_are_never_claimed(broker):
    TaskMessageFactory(id="a")
    assert broker.revoke(["a"]) == 1
    assert broker.claim("w1", ["default"], limit=5) == []
    assert TaskMessage.objects.get(id="a").state == states.REVOKED


def test_run_now_makes_a_waiting_row_due(broker):
    TaskMessageFactory(id="a", run_at=timezone.now() + timedelta(hours=1))
    assert broker.run_now(["a"]) == 1
    assert [m.id for m in broker.claim("w1", ["default"], limit=5)] == ["a"]


def test_prune_deletes_old_finished_rows_in_batches_and_keeps_the_rest(broker):
    old = timezone.now() - timedelta(days=2)
    for i in range(25):
        TaskMessageFactory(id=f"old{i}", state=states.SUCCESS, created_at=old, done_at=old)
    TaskMessageFactory(id="recent", state=states.SUCCESS, done_at=timezone.now())
    TaskMessageFactory(id="waiting", created_at=old)
    assert broker.prune(older_than=86400, batch_size=10) == 25
    assert set(TaskMessage.objects.values_list("id", flat=True)) == {"recent", "waiting"}


def test_suspect_workers_are_the_stale_ones_and_every_one_of_this_host(broker):
    WorkerFactory(name="fresh", hostname="elsewhere")
    WorkerFactory(name="stale", hostname="elsewhere")
    Worker.objects.filter(name="stale").update(heartbeat_at=timezone.now() - timedelta(hours=1))
    WorkerFactory(name="here", hostname="here", pid=2**22 + 1)
    suspects = {w["name"]: w["stale"] for w in broker.suspect_workers(60, hostname="here")}
    # The broker judges heartbeats by the database's clock; probing pids is the worker's.
    assert suspects == {"stale": True, "here": False}
    assert [w["name"] for w in broker.suspect_workers(60)] == ["stale"]


def test_register_only_registers_and_leaves_an_earlier_processs_rows_held(broker):
    TaskMessageFactory(id="a")
    broker.claim("w1", ["default"], limit=1)
    broker.register("w1", hostname="here", pid=1)
    assert TaskMessage.objects.get(id="a").state == states.RECEIVED
    assert Worker.objects.get(name="w1").pid == 1


def test_delete_finished_deletes_finished_rows_and_their_attempts_only(broker):
    done = TaskMessageFactory(id="done", state=states.SUCCESS)
    TaskAttemptFactory(task=done)
    TaskMessageFactory(id="waiting")
    assert broker.delete_finished(["done", "waiting", "unknown"]) == 1
    assert list(TaskMessage.objects.values_list("id", flat=True)) == ["waiting"]
    assert not TaskAttempt.objects.exists()


def test_update_state_sets_a_custom_state_on_a_held_row_only(broker):
    TaskMessageFactory(id="a")
    TaskMessageFactory(id="done", state=states.SUCCESS)
    broker.claim("w1", ["default"], limit=1)
    assert broker.update_state("a", "PROGRESS", {"current": 1})
    assert not broker.update_state("done", "PROGRESS", {"current": 1})
    assert TaskMessage.objects.get(id="a").state == "PROGRESS"
    # A custom state is still held: recovery finds it.
    broker.recover("w1", start_marker=UNKNOWN)
    assert TaskMessage.objects.get(id="a").state == states.FAILURE


@pytest.mark.postgresql
def test_the_claim_query_is_served_by_the_partial_claim_index():
    """The claim never scans finished history: its WHERE matches dt_claim's predicate."""
    from django.db import transaction

    from django_tasks.broker.postgresql import CLAIM

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN " + CLAIM, {"queues": ["default"], "limit": 10, "worker": "w", "first_seq": 0}
        )
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "dt_claim" in plan


def test_attempts_go_on_counting_after_a_requeue(broker):
    TaskMessageFactory(id="a")
    for _ in range(2):
        broker.claim("w1", ["default"], limit=1)
        broker.finish("w1", [Outcome(id="a", state=states.FAILURE, exc_type="ValueError")])
        broker.requeue(["a"])
    numbers = list(TaskAttempt.objects.filter(task_id="a").values_list("number", flat=True))
    assert numbers == [1, 2]


def test_bulk_enqueue_stores_the_json_of_rich_arguments_on_every_path(broker):
    """enqueue_many encodes arguments once; small batches, large batches (COPY) and
    single rows must all store the same JSON."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from tests import tasks

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for n in (1, 3, 600):
        results = tasks.context.enqueue_many([((when, Decimal("1.5")), {"k": (1, 2)})] * n)
        row = TaskMessage.objects.get(id=results[-1].id)
        assert row.args == [
            {"__type__": "datetime", "__value__": "2026-01-02T03:04:05+00:00"},
            {"__type__": "decimal", "__value__": "1.5"},
        ]
        assert row.kwargs == {"k": [1, 2]}
    # A claim gives the values back, whichever path wrote them.
    claimed = broker.claim("w", ["default"], 1000)
    assert len(claimed) == 604
    assert {(m.args, str(m.kwargs)) for m in claimed} == {((when, Decimal("1.5")), "{'k': [1, 2]}")}


def test_partial_index_predicates_are_the_broker_predicates():
    """A partial index serves a query only when the query repeats its predicate (constants
    in the same order, on SQLite): the index conditions are the predicates the broker's
    statements are written from."""
    from django_tasks.broker import predicates

    indexes = {i.name: i.condition for i in TaskMessage._meta.indexes}
    assert indexes["dt_claim"] == predicates.CLAIMABLE.q
    assert indexes["dt_due"] == predicates.CLAIMABLE.q
    assert indexes["dt_held"] == predicates.HELD.q
    assert predicates.HELD.sql() == (
        "state NOT IN ('PENDING', 'RETRY', 'FAILURE', 'IGNORED', 'REJECTED', 'REVOKED', 'SUCCESS')"
    )
    assert predicates.CLAIMABLE.sql() == "state IN ('PENDING', 'RETRY')"


#: Every standard state and a custom one (update_state's PROGRESS).
EVERY_STATE = (*sorted(states.ALL_STATES), "PROGRESS")
#: Each verb the admin calls on selected ids, with the states it publishes it acts on.
VERBS = {
    "requeue": (lambda b, ids: b.requeue(ids), "REQUEUE_FROM"),
    "run_now": (lambda b, ids: b.run_now(ids), "RUN_NOW_FROM"),
    "revoke": (lambda b, ids: b.revoke(ids), "REVOKE_FROM"),
    "terminate": (lambda b, ids: b.revoke(ids, terminate=True), "TERMINATE_FROM"),
    "delete_finished": (lambda b, ids: b.delete_finished(ids), "DELETE_FROM"),
    "release": (lambda b, ids: b.release("w1", [(i, 0.0) for i in ids]), "RELEASE_FROM"),
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_acts_on_exactly_the_states_it_publishes(broker, verb):
    """The admin decides what an action applies to from these sets: they must be true."""
    call, published = VERBS[verb]
    acts_on = getattr(broker, published)
    rows = {state: TaskMessageFactory(state=state, worker="w1").id for state in EVERY_STATE}
    columns = ("id", "state", "run_at", "worker", "exc_message")
    before = {r[0]: r for r in TaskMessage.objects.values_list(*columns)}
    assert call(broker, list(rows.values())) == sum(1 for s in EVERY_STATE if s in acts_on)
    after = {r[0]: r for r in TaskMessage.objects.values_list(*columns)}
    changed = {state for state, task_id in rows.items() if after.get(task_id) != before[task_id]}
    assert changed == {s for s in EVERY_STATE if s in acts_on}


def test_claim_says_which_rows_expired(broker):
    TaskMessageFactory(id="past", expires=timezone.now() - timedelta(seconds=1))
    TaskMessageFactory(id="future", expires=timezone.now() + timedelta(hours=1))
    TaskMessageFactory(id="never")
    # Captured: the debug cursor formats each statement with its parameters (a literal %
    # in vendor SQL must survive that too).
    with CaptureQueriesContext(connection):
        claimed = broker.claim("w1", ["default"], limit=10)
    assert {m.id: m.options["expired"] for m in claimed} == {
        "past": True,
        "future": False,
        "never": False,
    }


@pytest.mark.postgresql
def test_expired_and_due_are_judged_by_the_database_clock_not_the_hosts(broker):
    """In a transaction PostgreSQL's now() stands still: a row that expired and is due by
    this host's clock, but not yet by the database's, is neither."""
    from django.db import transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
        time.sleep(0.05)
        host_now = timezone.now()
        TaskMessageFactory(id="a", expires=host_now, run_at=host_now)
        due_in = broker.seconds_until_due(["default"])
        TaskMessage.objects.filter(id="a").update(run_at=host_now - timedelta(hours=1))
        [message] = broker.claim("w1", ["default"], limit=1)
    assert 0.04 <= due_in < 5
    assert message.options["expired"] is False


@pytest.mark.sqlite
def test_sqlite_judges_expired_and_due_in_sql_by_the_databases_clock(broker):
    from django_tasks.broker.sqlite import CLAIM, CLAIM_QUEUE, NEXT_DUE, NOW_END

    # The statements compare with SQLite's own clock, not a time this process passes in.
    assert f"expires < {NOW_END}" in CLAIM and f"run_at < {NOW_END}" in CLAIM_QUEUE
    assert "julianday(" in NEXT_DUE
    # The clock's text is Django's stored form of a UTC datetime, so text comparison of the
    # two compares times.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {NOW_END}, %s", [0])
        db_now = datetime.fromisoformat(cursor.fetchone()[0] + "+00:00")
    assert abs(db_now - timezone.now()) < timedelta(seconds=1)
    TaskMessageFactory(id="a", run_at=timezone.now() + timedelta(seconds=30))
    assert 25 < broker.seconds_until_due(["default"]) <= 30


@pytest.mark.sqlite
def test_sqlite_statements_are_served_by_the_partial_indexes():
    """SQLite uses a partial index only when the query repeats its predicate with literals:
    the statements written from the broker's predicates do (and 'done_at < x' implies the
    dt_done index's 'done_at IS NOT NULL')."""
    from django_tasks.broker import sqlite
    from django_tasks.broker.base import _ago

    prune = (
        TaskMessage.objects.finished()
        .filter(done_at__lt=_ago(60))
        .values_list("id", flat=True)[:10]
        .query.sql_with_params()
    )
    statements = {
        "dt_claim": (
            sqlite.CLAIM.format(ready=f"{sqlite.CLAIM_QUEUE} UNION ALL {sqlite.CLAIM_QUEUE}"),
            ["w", 0, "default", 10, "mail", 10, 10],
        ),
        "dt_due": (
            sqlite.NEXT_DUE.format(
                due=f"{sqlite.NEXT_DUE_QUEUE} UNION ALL {sqlite.NEXT_DUE_QUEUE}"
            ),
            ["default", "mail"],
        ),
        "dt_held": (sqlite.HELD_BY, ["w"]),
        "dt_done": (prune[0], list(prune[1])),
    }
    with connection.cursor() as cursor:
        for index, (sql, params) in statements.items():
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(row[-1] for row in cursor.fetchall())
            assert f"INDEX {index.strip()}" in plan, (sql, plan)
