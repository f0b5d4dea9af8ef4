"""
A served queue beside a large backlog in another queue: its claim and its next-due query
read only its own rows (EXPLAIN ANALYZE beside 500,000 waiting rows), as the claim of an
empty table would.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction

from django_tasks.broker import get_broker
from django_tasks.models import TaskMessage
from tests.factories import TaskMessageFactory

# transaction=True: the rows are committed, and the flush after the test (TRUNCATE) resets
# the table's statistics for the tests after.
pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

BACKLOG = 500_000


@pytest.fixture
def bulk_backlog(transactional_db):
    """BACKLOG due PENDING rows in queue "bulk", written by one INSERT ... SELECT."""
    columns, values, params = [], [], []
    generated = {
        "id": "'bulk-' || lpad(i::text, 7, '0')",
        "queue": "'bulk'",
        "priority": "(i %% 10)::smallint",
        "args": "jsonb_build_array(i, 1)",
        "run_at": "now() - make_interval(secs => i)",
        "created_at": "now() - make_interval(secs => i)",
    }
    for field in TaskMessage._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.column in generated:
            values.append(generated[field.column])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TaskMessage._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM generate_series(1, {BACKLOG}) AS i",
            params,
        )
        cursor.execute(f"ANALYZE {TaskMessage._meta.db_table}")


def explain_analyze(sql: str, params: dict) -> str:
    """The plan of `sql` as run (rolled back: the claim changes nothing here)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def rows_read(plan: str) -> int:
    """The most rows any node of `plan` produced (loops counted)."""
    found = [
        int(rows) * int(loops) for rows, loops in re.findall(r"rows=(\d+) loops=(\d+)\)", plan)
    ]
    return max(found)


def test_a_served_queue_beside_a_big_backlog_reads_only_its_own_rows(bulk_backlog):
    from django_tasks.broker.postgresql import CLAIM, NEXT_DUE

    for i in range(100):
        TaskMessageFactory(id=f"mail-{i:03d}", queue="mail", priority=i % 3)
    params = {"queues": ["mail"], "limit": 100, "worker": "w", "first_seq": 0}
    plan = explain_analyze(CLAIM, params)
    table = TaskMessage._meta.db_table
    assert f"Seq Scan on {table}" not in plan, plan
    assert "dt_claim" in plan, plan
    assert rows_read(plan) <= 100, plan

    due = explain_analyze(NEXT_DUE, {"queues": ["mail", "default"]})
    assert f"Seq Scan on {table}" not in due, due
    assert "dt_due" in due, due
    assert rows_read(due) <= 2, due

    # Two served queues, one of them the backlog: the batch is still the best of both and
    # each queue's scan stops at the batch size.
    params = {"queues": ["mail", "bulk"], "limit": 50, "worker": "w", "first_seq": 0}
    plan = explain_analyze(CLAIM, params)
    assert f"Seq Scan on {table}" not in plan, plan
    assert rows_read(plan) <= 100, plan

    broker = get_broker()
    claimed = broker.claim("w", ["mail"], limit=100)
    assert len(claimed) == 100 and {m.queue for m in claimed} == {"mail"}
    assert [m.priority for m in claimed] == sorted((m.priority for m in claimed), reverse=True)
    # Beside the backlog, the highest priority of either queue comes first.
    mixed = broker.claim("w", ["mail", "bulk"], limit=10)
    assert {m.priority for m in mixed} == {9}
