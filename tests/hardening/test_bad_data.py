"""
A worker that no bad data can stall (issue 18): each bad value or row ends in a final state
with a clear reason, the valid tasks around it end SUCCESS, and ``--burst`` exits.

Real ``runtasks`` subprocesses on the test database, on every vendor.
"""

from __future__ import annotations

import pytest
from django.db import connection

from django_tasks import states
from django_tasks.models import TaskMessage
from tests import tasks

pytestmark = [pytest.mark.django_db(transaction=True)]

DECODE = "django_tasks.exceptions.DecodeError"


def _drain(runtasks, *args: str, timeout: float = 40) -> str:
    """Run a burst worker until it exits (it must); return its log."""
    worker = runtasks("--burst", *args)
    assert worker.wait(timeout=timeout) == 0, worker.output()
    return worker.output()


def _around(make_bad):
    """Valid tasks before and after the bad one, enqueued together: one batch."""
    before = [tasks.add.delay(i, 1) for i in range(3)]
    bad = make_bad()
    after = [tasks.add.delay(i, 2) for i in range(3)]
    return bad, before + after


def _assert_valid_succeeded(valid) -> None:
    rows = TaskMessage.objects.filter(id__in=[r.id for r in valid])
    assert sorted(rows.values_list("state", flat=True)) == [states.SUCCESS] * len(valid)


def _row(task_id: str) -> TaskMessage:
    return TaskMessage.objects.get(id=task_id)


def _set_column(task_id: str, column: str, value: str) -> None:
    """Write a column by hand, as an older version or a person might have."""
    cast = "::jsonb" if connection.vendor == "postgresql" and column != "eta" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE django_tasks_taskmessage SET {column} = %s{cast} WHERE id = %s",  # noqa: S608
            [value, task_id],
        )


# -- 1. outcomes the database cannot store --------------------------------------------------


@pytest.mark.parametrize("kind", ["nan", "inf", "nul", "surrogate"])
def test_a_returned_value_the_database_cannot_store_fails_only_its_task(runtasks, kind):
    # Warm the consumer up so the next claim takes a whole batch, as it does under load.
    bad, valid = _around(lambda: tasks.return_bad.delay(kind))
    _drain(runtasks, "-c", "1")
    row = _row(bad.id)
    assert row.state == states.FAILURE
    assert row.exc_type == "django_tasks.exceptions.EncodeError"
    assert "tests.tasks.return_bad" in row.exc_message
    _assert_valid_succeeded(valid)


@pytest.mark.parametrize("kind", ["nan", "nul", "surrogate"])
def test_an_exception_the_database_cannot_store_fails_its_task_with_its_type(runtasks, kind):
    bad, valid = _around(lambda: tasks.raise_bad.delay(kind))
    _drain(runtasks, "-c", "1")
    row = _row(bad.id)
    assert row.state == states.FAILURE
    assert row.exc_type == "ValueError"
    _assert_valid_succeeded(valid)


# -- 2, 3, 4. rows the worker cannot decode -------------------------------------------------

BAD_COLUMNS = [
    ("args", "5", "args"),
    ("args", "null", "args"),
    ("args", '"ab"', "args"),
    ("args", '{"x": 1}', "args"),
    ("kwargs", "[1, 2]", "kwargs"),
    ("options", "5", "options"),
    ("options", '{"time_limit": "abc"}', "time_limit"),
    ("options", '{"chain": 5}', "chain"),
]


@pytest.mark.parametrize(("column", "value", "named"), BAD_COLUMNS)
def test_an_undecodable_row_fails_at_once_and_is_never_given_back(runtasks, column, value, named):
    def make_bad():
        result = tasks.add.apply_async((1, 1), priority=9)  # claimed first, every time
        _set_column(result.id, column, value)
        return result

    bad, valid = _around(make_bad)
    log = _drain(runtasks, "-c", "1")
    row = _row(bad.id)
    assert row.state == states.FAILURE, log
    assert row.exc_type == DECODE
    assert named in row.exc_message
    assert "loop-error" not in log
    _assert_valid_succeeded(valid)


@pytest.mark.postgresql
@pytest.mark.parametrize("column", ["eta", "expires"])
def test_a_row_with_an_infinite_date_fails_with_a_decode_error(runtasks, column):
    def make_bad():
        result = tasks.add.apply_async((1, 1), priority=9)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE django_tasks_taskmessage SET {column} = 'infinity' WHERE id = %s",  # noqa: S608
                [result.id],
            )
        return result

    bad, valid = _around(make_bad)
    log = _drain(runtasks, "-c", "1")
    row = TaskMessage.objects.filter(id=bad.id).values("state", "exc_type", "exc_message")[0]
    assert row["state"] == states.FAILURE, log
    assert row["exc_type"] == DECODE
    assert column in row["exc_message"]
    _assert_valid_succeeded(valid)


# -- 7. a transaction left open ---------------------------------------------------------------


def test_a_task_that_leaves_a_transaction_open_still_succeeds(runtasks):
    bad, valid = _around(lambda: tasks.leave_transaction_open.delay())
    log = _drain(runtasks, "-c", "1")
    row = _row(bad.id)
    assert row.state == states.SUCCESS, log
    assert row.result == "left open"
    assert f"task id={bad.id} name=tests.tasks.leave_transaction_open" in log
    _assert_valid_succeeded(valid)


# -- 8. SystemExit and KeyboardInterrupt ------------------------------------------------------


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_system_exit_and_keyboard_interrupt_fail_their_task_and_the_worker_goes_on(runtasks, pool):
    bad = [tasks.exit_task.delay("exit"), tasks.exit_task.delay("interrupt")]
    valid = [tasks.add.delay(i, 1) for i in range(4)]
    log = _drain(runtasks, "-c", "2", "-P", pool)
    rows = {r.id: r for r in TaskMessage.objects.filter(id__in=[b.id for b in bad])}
    assert rows[bad[0].id].state == states.FAILURE, log
    assert rows[bad[0].id].exc_type == "SystemExit"
    assert rows[bad[1].id].state == states.FAILURE
    assert rows[bad[1].id].exc_type == "KeyboardInterrupt"
    assert f"task id={bad[0].id} name=tests.tasks.exit_task state=FAILURE" in log
    _assert_valid_succeeded(valid)
