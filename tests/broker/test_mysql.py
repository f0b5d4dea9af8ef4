"""MySQL / MariaDB only: the indexes that replace the partial ones, the server's clock, the
start checks, and the new-row watcher that wakes idle workers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from django_tasks import states
from django_tasks.broker import mysql
from django_tasks.broker.mysql import MySQLBroker, server_problem
from tests.factories import TaskMessageFactory

pytestmark = [pytest.mark.mysql, pytest.mark.django_db(transaction=True)]


def _plan(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _handler_reads(cursor) -> int:
    cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
    return sum(int(value) for _, value in cursor.fetchall())


def _rows_read(sql: str, params: list) -> int:
    """Index and row reads the server counted for one run of `sql` (rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            before = _handler_reads(cursor)
            idle = _handler_reads(cursor) - before  # what SHOW STATUS itself counts
            before = _handler_reads(cursor)
            cursor.execute(sql, params)
            cursor.fetchall()
            return _handler_reads(cursor) - before - idle
        finally:
            cursor.execute("ROLLBACK")


def test_claims_and_recovery_read_only_waiting_and_held_rows_beside_finished_history():
    """The virtual-column indexes hold only waiting (dt_claimable) and held (dt_held) rows:
    a claim walks them in its own order (no sort, so no lock past LIMIT) and reads about
    LIMIT rows however many finished rows there are."""
    now = timezone.now()
    for _ in range(300):
        TaskMessageFactory(state=states.SUCCESS, worker="w1", run_at=now - timedelta(hours=1))
    for i in range(20):
        TaskMessageFactory(priority=i % 3)
    TaskMessageFactory(state=states.RECEIVED, worker="w1")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE TABLE {mysql.TABLE}")
    [claim] = _plan(mysql.CLAIM.format(queues="%s"), ["default", 5])
    assert claim["key"] == "dt_claimable" and "filesort" not in (claim["Extra"] or "")
    # What the claim really reads, by the server's own counters (EXPLAIN's "rows" is an
    # estimate from index statistics: CI saw it anywhere from 21 to 355): about LIMIT rows,
    # not the 300 finished ones.
    assert _rows_read(mysql.CLAIM.format(queues="%s"), ["default", 5]) <= 5 + 3
    [held] = _plan(mysql.HELD_BY, ["w1"])
    assert held["key"] == "dt_held" and _rows_read(mysql.HELD_BY, ["w1"]) <= 1 + 2  # 302 unindexed
    [due] = _plan(mysql.NEXT_DUE.format(queues="%s"), ["default"])
    assert due["key"] == "dt_claimable"
    # And the order is the contract's: highest priority first, then longest waiting.
    claimed = MySQLBroker("default").claim("w2", ["default"], limit=20)
    assert [m.priority for m in claimed] == sorted((m.priority for m in claimed), reverse=True)


def test_due_and_expired_are_judged_by_the_servers_clock_not_the_hosts():
    """SET timestamp moves this session's server clock an hour back: a row due and expired
    by this host's clock is neither by the server's, which is the one claims use."""
    broker = MySQLBroker("default")
    TaskMessageFactory(id="a", run_at=timezone.now(), expires=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SET timestamp = UNIX_TIMESTAMP() - 3600")
    try:
        assert broker.claim("w1", ["default"], limit=1) == []
        assert 3590 < broker.seconds_until_due(["default"]) <= 3601
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET timestamp = DEFAULT")
    [message] = broker.claim("w1", ["default"], limit=1)
    assert message.options["expired"] is True


@pytest.mark.parametrize(
    ("version", "offset", "says"),
    [
        ("10.5.23-MariaDB-1", 0, "needs MariaDB 10.6 or newer"),
        ("8.0.0", 0, "needs MySQL 8.0.1 or newer"),
        ("5.7.44-log", 0, "needs MySQL 8.0.1 or newer"),
        ("10.11.6-MariaDB", 7200, "+7200 s off"),
        ("10.6.0-MariaDB", 0, None),
        ("8.4.3", 0, None),
    ],
)
def test_an_unfit_server_is_named_with_what_is_needed(version, offset, says):
    problem = server_problem(version, offset)
    assert (problem is None) if says is None else (says in problem)


def test_a_session_not_in_utc_is_refused_when_a_worker_starts():
    """Django's Now() is the session's clock: off by hours, heartbeats would look stale."""
    with connection.cursor() as cursor:
        cursor.execute("SET time_zone = '+02:00'")
    try:
        with pytest.raises(ImproperlyConfigured, match="time zone to be UTC"):
            MySQLBroker("default").register("w1", hostname="h", pid=1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
    MySQLBroker("default").register("w1", hostname="h", pid=1)  # this server is fit


def test_the_watcher_wakes_on_a_new_row_and_otherwise_waits(second_connection):
    broker = MySQLBroker("default")
    watcher = broker.listen()
    try:
        began = time.monotonic()
        assert watcher.wait(0.3) == set()
        assert time.monotonic() - began >= 0.3
        broker.enqueue([_message("new")])
        began = time.monotonic()
        assert watcher.wait(5) == {"*"}
        assert time.monotonic() - began < 0.5
    finally:
        watcher.close()


def _message(task_id: str):
    from django_tasks.message import Message

    return Message(id=task_id, name="tests.tasks.add", args=(1, 2))
