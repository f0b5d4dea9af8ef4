"""The task admin against bad input and probing: each answer is cheap, and the same."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_tasks import states
from tests.admin.conftest import CHANGELIST, act_url, change_url, progress_url
from tests.factories import TaskMessageFactory

pytestmark = pytest.mark.django_db


def qn(name: str) -> str:
    """`name` quoted as this database's SQL quotes it (backticks on MySQL)."""
    return connection.ops.quote_name(name)


TABLE = "django_tasks_taskmessage"


def list_select(client, query: str = "") -> str:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    selects = [q["sql"] for q in queries if f"FROM {qn(TABLE)}" in q["sql"]]
    return max(selects, key=len)


def test_task_list_loads_only_the_columns_it_shows(admin_client):
    TaskMessageFactory(args=["x" * 100_000], result={"big": "y" * 100_000}, traceback="z" * 999)
    sql = list_select(admin_client)
    for column in ("args", "kwargs", "result", "traceback", "exc_message", "options"):
        assert f"{qn(TABLE)}.{qn(column)}" not in sql, column
    assert f"{qn(TABLE)}.{qn('name')}" in sql


@pytest.mark.parametrize("index", ["2", "3", "4", "5", "7", "9", "11", "-2"])
def test_ordering_by_an_unindexed_column_is_ignored(admin_client, index):
    TaskMessageFactory.create_batch(2)
    sql = list_select(admin_client, f"?o={index}")
    order_by = sql.rsplit("ORDER BY", 1)[1]
    for column in ("name", "queue", "state", "priority", "eta", "started_at", "worker"):
        assert qn(column) not in order_by, (index, order_by)


def test_ordering_by_the_indexed_columns_still_works(admin_client):
    TaskMessageFactory.create_batch(2)
    # Column 0 is the action checkbox: 1 is the id, 8 the created time.
    assert f"{qn('created_at')} ASC" in list_select(admin_client, "?o=8").rsplit("ORDER BY", 1)[1]
    assert f"{qn('id')} DESC" in list_select(admin_client, "?o=-1").rsplit("ORDER BY", 1)[1]


def test_list_offers_no_sort_on_name(admin_client):
    TaskMessageFactory()
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert '<th scope="col" class="column-name">' in html
    assert '<th scope="col" class="sortable column-short_id">' in html


@pytest.mark.parametrize(
    "query", ["?state=%00", "?queue=a%00b", "?name=%00", "?q=%00", "?worker=%00", "?o=%00"]
)
def test_a_nul_byte_in_a_filter_is_a_400_not_a_500(admin_client, query):
    TaskMessageFactory()
    assert admin_client.get(reverse(CHANGELIST) + query).status_code == 400


@pytest.mark.parametrize("query", ["?state=NOPE", "?queue=%F0%9F%92%A5", "?o=99", "?o=x.y"])
def test_an_unknown_filter_value_is_not_a_500(admin_client, query):
    TaskMessageFactory()
    assert admin_client.get(reverse(CHANGELIST) + query).status_code in (200, 302, 400)


def test_without_permission_an_existing_and_a_missing_id_get_the_same_answer(staff_client):
    client = staff_client()  # staff, but no task permission
    task = TaskMessageFactory(state=states.SUCCESS)
    for url in (change_url, progress_url, lambda i: change_url(i).replace("change/", "history/")):
        assert client.get(url(task.id)).status_code == 403
        assert client.get(url("no-such-task")).status_code == 403
    assert client.post(act_url(task.id, "requeue")).status_code == 403
    assert client.post(act_url("no-such-task", "requeue")).status_code == 403


def test_list_shows_the_part_of_time_ordered_ids_that_differs(admin_client):
    # uuid7s made in the same minute share their first 8 characters.
    a = TaskMessageFactory(id="019ad3f2-7b10-7c3e-9a41-5d2e8f0c1a11")
    b = TaskMessageFactory(id="019ad3f2-7b44-7f02-8e6d-0b9c3a7d5e22")
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert f'title="{a.id}">…8f0c1a11<' in html
    assert f'title="{b.id}">…3a7d5e22<' in html


def test_read_only_task_page_is_titled_view_not_change(admin_client):
    task = TaskMessageFactory()
    html = admin_client.get(change_url(task.id)).content.decode()
    assert "<h1>View task</h1>" in html
    assert "Change task" not in html
