"""
The console beside 1,000,000 tasks: a bounded number of queries, no COUNT(*) of them, and
no query of the dashboard that reads the task table through (every one an index's).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_tasks import states
from django_tasks.models import TaskMessage
from tests.admin.conftest import CHANGELIST, DASHBOARD, change_url

# transaction=True: the rows are committed, and the flush after the test (TRUNCATE) resets
# the table's statistics, so later tests do not see a million-row estimate.
# PostgreSQL only: the million rows are generated in PostgreSQL's SQL (generate_series, jsonb)
# and the list's row estimate is pg_class's; MySQL's (information_schema.TABLES) is not
# exercised at this scale.
pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

ROWS = 1_000_000

#: SQL for each column of the generated rows (i = 1..ROWS; %% is modulo, escaped for the
#: parameters): one in 100 failed, one in 10 on
#: the "mail" queue, newest first by i. Columns not named here take their model default.
GENERATED = {
    # Zero-padded: the rows arrive in key order, appended to the primary key's index.
    "id": "'scale-' || lpad(i::text, 7, '0')",
    "name": "CASE WHEN i %% 100 = 0 THEN 'tests.tasks.fail' ELSE 'tests.tasks.add' END",
    "queue": "CASE WHEN i %% 10 = 0 THEN 'mail' ELSE 'default' END",
    "args": "jsonb_build_array(i, 1)",
    "state": "CASE WHEN i %% 100 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END",
    "exc_type": "CASE WHEN i %% 100 = 0 THEN 'builtins.ValueError' ELSE '' END",
    "worker": "'w.' || (i %% 8)",
    "result": "CASE WHEN i %% 100 = 0 THEN NULL ELSE to_jsonb(i + 1) END",
    "created_at": "now() - make_interval(secs => i)",
    "run_at": "now() - make_interval(secs => i)",
    "started_at": "now() - make_interval(secs => i)",
    "done_at": "now() - make_interval(secs => i) + interval '10 milliseconds'",
}


@pytest.fixture
def million_tasks(transactional_db):
    """1,000,000 finished tasks, written by one INSERT ... SELECT, then analyzed."""
    columns, values, params = [], [], []
    for field in TaskMessage._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.column in GENERATED:
            values.append(GENERATED[field.column])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TaskMessage._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM generate_series(1, {ROWS}) AS i",
            params,
        )
        # The statistics autovacuum would gather soon after; the estimate reads them.
        cursor.execute(f"ANALYZE {TaskMessage._meta.db_table}")


def seq_scans(sql: list[str]) -> list[str]:
    """The plans of the queries among `sql` that read the task table row by row."""
    table = TaskMessage._meta.db_table
    found = []
    with connection.cursor() as cursor:
        for query in sql:
            if table not in query or not query.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN " + query)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if f"Seq Scan on {table}" in plan:
                found.append(f"{query}\n{plan}")
    return found


def get(client, url, query=None, max_queries=8, assert_max=None):
    with assert_max(max_queries), CaptureQueriesContext(connection) as queries:
        response = client.get(url, query or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in queries]


def test_a_million_tasks_list_and_dashboard_in_bounded_queries(
    admin_client, million_tasks, django_assert_max_num_queries
):
    limit = django_assert_max_num_queries

    # The unfiltered list: the estimate, never COUNT(*) of a million rows.
    response, sql = get(admin_client, reverse(CHANGELIST), assert_max=limit)
    cl = response.context["cl"]
    assert cl.paginator.estimated
    assert 0.9 * ROWS <= cl.result_count <= 1.1 * ROWS
    assert [t.id for t in cl.result_list][:3] == ["scale-0000001", "scale-0000002", "scale-0000003"]
    assert len(cl.result_list) == 50
    assert not any("COUNT(" in q.upper() for q in sql)
    assert "estimate: an exact count would read every row" in response.content.decode()

    # A deep page: still one estimate and one page read.
    response, sql = get(admin_client, reverse(CHANGELIST), {"p": "200"}, assert_max=limit)
    assert response.context["cl"].result_list[0].id == f"scale-{199 * 50 + 1:07d}"

    # Filters count exactly what they select.
    response, _ = get(
        admin_client, reverse(CHANGELIST), {"state": states.FAILURE}, assert_max=limit
    )
    assert response.context["cl"].result_count == ROWS // 100
    assert not response.context["cl"].paginator.estimated
    response, _ = get(
        admin_client,
        reverse(CHANGELIST),
        {"state": states.FAILURE, "queue": "mail", "name": "tests.tasks.fail"},
        assert_max=limit,
    )
    assert response.context["cl"].result_count == ROWS // 100

    # A task id in the search box goes straight to the row by its key.
    response, _ = get(admin_client, reverse(CHANGELIST), {"q": "scale-0004242"}, assert_max=limit)
    assert [t.id for t in response.context["cl"].result_list] == ["scale-0004242"]

    # The task page and the dashboard.
    get(admin_client, change_url("scale-0000100"), assert_max=limit)
    response, sql = get(admin_client, reverse(DASHBOARD), max_queries=17, assert_max=limit)
    assert response.context["total"]["estimated"]
    # Each figure is read through an index (the windows of finished rows through dt_done):
    # the page costs the same at any history size.
    assert seq_scans(sql) == []
    # One in 100 rows failed, one row a second back in time: ~864 in the last 24 hours (a
    # few fall out of the window while the test runs).
    [(exc_type, n)] = [(f["exc_type"], f["n"]) for f in response.context["failure_types"]]
    assert exc_type == "builtins.ValueError" and 855 <= n <= 864
