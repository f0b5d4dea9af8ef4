"""
PostgreSQL: the broker's statements are prepared server-side (planned once per connection),
unless PREPARED_STATEMENTS is off; a server that loses them (a pooler in transaction mode
moving the session) turns them off for the process, and nothing is lost.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection, transaction

from django_tasks.broker import get_broker, postgresql
from django_tasks.models import TaskMessage
from django_tasks.sending import build_message
from tests import tasks

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _lose_prepared_statements() -> None:
    """What PgBouncer in transaction mode does: the next transaction runs on a server session
    where psycopg's statement names are unknown (DEALLOCATE in a DO block, so psycopg does
    not see it and forget its names, as it would for a plain DEALLOCATE ALL)."""
    with connection.cursor() as cursor:
        cursor.execute("DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$")


def _prepared() -> list[str]:
    """The statements prepared on Django's connection (the broker shares it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(autouse=True)
def fresh_connection():
    connection.close()
    postgresql._PREPARES_REFUSED = False
    yield
    postgresql._PREPARES_REFUSED = False
    connection.close()


def test_enqueue_claim_and_finish_are_prepared_once_per_connection():
    for i in range(3):
        tasks.add.delay(i, 1)
    broker = get_broker("default")
    broker.claim("w1", ["default"], 10)
    statements = _prepared()
    # One prepared statement per distinct statement, however often it ran.
    assert sum("INSERT INTO django_tasks_taskmessage" in s for s in statements) == 1
    assert sum("SET state = 'RECEIVED'" in s for s in statements) == 1
    # Django's own queries are never prepared.
    assert not any("pg_prepared_statements" in s for s in statements)


def test_prepared_statements_off(settings):
    settings.DJANGO_TASKS = {**settings.DJANGO_TASKS, "PREPARED_STATEMENTS": False}
    tasks.add.delay(1, 1)
    get_broker("default").claim("w1", ["default"], 10)
    assert _prepared() == []


def test_a_lost_prepared_statement_turns_prepares_off_and_loses_nothing(caplog):
    tasks.add.delay(1, 1)
    assert _prepared()
    _lose_prepared_statements()
    with caplog.at_level(logging.WARNING, logger="django_tasks.broker.postgresql"):
        tasks.add.delay(2, 1)  # autocommit: run again unprepared at once
        tasks.add.delay(3, 1)
    assert sorted(m.args[0] for m in TaskMessage.objects.all()) == [1, 2, 3]
    warnings = [
        r.getMessage() for r in caplog.records if "prepared-statements-refused" in r.getMessage()
    ]
    assert len(warnings) == 1 and "PREPARED_STATEMENTS" in warnings[0]
    assert _prepared() == []  # nothing prepared since


def test_inside_a_transaction_the_loss_is_an_error_and_the_retry_runs_unprepared():
    broker = get_broker("default")
    tasks.add.delay(1, 1)
    _lose_prepared_statements()
    from django.db import DatabaseError

    with pytest.raises(DatabaseError, match="prepared statement"), transaction.atomic():
        broker.enqueue([build_message(tasks.add, (2, 1))])
    assert postgresql._PREPARES_REFUSED
    with transaction.atomic():
        broker.enqueue([build_message(tasks.add, (2, 1))])
    assert sorted(m.args[0] for m in TaskMessage.objects.all()) == [1, 2]
