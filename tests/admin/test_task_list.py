"""The task list: columns, badges, filters, search, order, and no work per row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from tests.admin.conftest import CHANGELIST, DASHBOARD, change_url
from tests.factories import TaskMessageFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def listed_ids(response) -> list[str]:
    return [t.id for t in response.context["cl"].result_list]


def test_list_shows_each_column_of_a_task(admin_client):
    now = timezone.now()
    task = TaskMessageFactory(
        name="tests.tasks.add",
        queue="mail",
        state=states.SUCCESS,
        priority=7,
        retries=1,
        max_retries=3,
        eta=now,
        started_at=now,
        done_at=now + timedelta(seconds=1.5),
        worker="web1.4711",
    )
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert task.id in html
    assert "tests.tasks.add" in html and "mail" in html and "web1.4711" in html
    assert '<span class="dt-badge dt-success">SUCCESS</span>' in html
    assert '<td class="field-retries_display">1/3</td>' in html
    assert '<td class="field-runtime_display">1.500 s</td>' in html
    assert '<td class="field-priority">7</td>' in html


def test_a_custom_state_gets_the_custom_badge(admin_client):
    TaskMessageFactory(state="PROGRESS", result={"current": 1, "total": 4})
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert '<span class="dt-badge dt-custom">PROGRESS</span>' in html


def test_list_is_newest_first(admin_client):
    now = timezone.now()
    old = TaskMessageFactory(created_at=now - timedelta(hours=2))
    new = TaskMessageFactory(created_at=now)
    mid = TaskMessageFactory(created_at=now - timedelta(hours=1))
    assert listed_ids(admin_client.get(reverse(CHANGELIST))) == [new.id, mid.id, old.id]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": states.FAILURE}, {"failed"}),
        ({"state": "_custom"}, {"progress"}),
        ({"state": "PROGRESS"}, {"progress"}),
        ({"queue": "mail"}, {"mail"}),
        ({"name": "tests.tasks.fail"}, {"failed"}),
    ],
)
def test_filters_narrow_the_list(admin_client, query, expected):
    rows = {
        "failed": TaskMessageFactory(name="tests.tasks.fail", state=states.FAILURE),
        "progress": TaskMessageFactory(name="tests.tasks.progress", state="PROGRESS"),
        "mail": TaskMessageFactory(queue="mail"),
        "plain": TaskMessageFactory(),
    }
    ids = set(listed_ids(admin_client.get(reverse(CHANGELIST), query)))
    assert ids == {rows[k].id for k in expected}


def test_date_filter_keeps_tasks_created_today(admin_client):
    today = TaskMessageFactory()
    TaskMessageFactory(created_at=timezone.now() - timedelta(days=40))
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    query = {"created_at__gte": str(start), "created_at__lt": str(start + timedelta(days=1))}
    assert listed_ids(admin_client.get(reverse(CHANGELIST), query)) == [today.id]


def test_queue_filter_offers_declared_and_consumed_queues_without_a_scan(admin_client):
    WorkerFactory(queues=["default", "reports"])
    TaskMessageFactory(queue="adhoc")  # no task declares it, no worker consumes it
    response = admin_client.get(reverse(CHANGELIST))
    queue_filter = next(f for f in response.context["cl"].filter_specs if f.title == "queue")
    offered = {value for value, _label in queue_filter.lookup_choices}
    assert {"default", "reports"} <= offered
    assert "adhoc" not in offered


def test_name_filter_offers_registered_tasks(admin_client):
    response = admin_client.get(reverse(CHANGELIST))
    name_filter = next(f for f in response.context["cl"].filter_specs if f.title == "task")
    offered = {value for value, _label in name_filter.lookup_choices}
    assert {"tests.tasks.add", "tests.tasks.fail", "testproject.blog.tasks.spam_filter"} <= offered


@pytest.mark.parametrize("field", ["id", "name", "args", "kwargs"])
def test_search_finds_a_task_by_id_name_or_argument_text(admin_client, field):
    wanted = TaskMessageFactory(
        name="tests.tasks.say", args=["needle-in-args"], kwargs={"to": "needle@kwargs.example"}
    )
    TaskMessageFactory(name="tests.tasks.add", args=[1, 2])
    term = {
        "id": wanted.id,
        "name": "tasks.say",
        "args": "needle-in-args",
        "kwargs": "needle@kwargs",
    }[field]
    assert listed_ids(admin_client.get(reverse(CHANGELIST), {"q": term})) == [wanted.id]


def test_dashboard_links_filter_by_exception_type_and_group(admin_client):
    failed = TaskMessageFactory(state=states.FAILURE, exc_type="builtins.KeyError")
    TaskMessageFactory(state=states.FAILURE, exc_type="builtins.ValueError")
    grouped = TaskMessageFactory(group_id="g-1")
    query = {"state": states.FAILURE, "exc_type": "builtins.KeyError"}
    assert listed_ids(admin_client.get(reverse(CHANGELIST), query)) == [failed.id]
    assert listed_ids(admin_client.get(reverse(CHANGELIST), {"group_id": "g-1"})) == [grouped.id]


def test_list_has_no_add_button_and_links_the_dashboard(admin_client):
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert reverse("admin:django_tasks_taskmessage_add") not in html
    assert reverse(DASHBOARD) in html
    assert admin_client.get(reverse("admin:django_tasks_taskmessage_add")).status_code == 403


def test_list_costs_the_same_queries_for_3_rows_as_for_50(admin_client):
    TaskMessageFactory.create_batch(3, state=states.FAILURE, exc_type="ValueError")
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse(CHANGELIST))
    TaskMessageFactory.create_batch(47, state=states.SUCCESS, parent_id="p", worker="w.1")
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 50
    assert len(many) == len(few)


def test_small_lists_count_exactly(admin_client):
    TaskMessageFactory.create_batch(3)
    response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].result_count == 3
    assert not response.context["cl"].paginator.estimated
    assert "3 tasks" in response.content.decode()


def test_view_only_staff_sees_the_list_without_actions(staff_client):
    client = staff_client("view_taskmessage")
    task = TaskMessageFactory(state=states.FAILURE)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert task.id in response.content.decode()
    assert "action_form" not in response.context or not response.context["action_form"]


def test_staff_without_view_permission_is_refused(staff_client):
    client = staff_client()
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(change_url(TaskMessageFactory().id)).status_code == 403


def test_filter_counts_are_never_computed(admin_client):
    TaskMessageFactory(state=states.FAILURE)
    response = admin_client.get(reverse(CHANGELIST), {"_facets": "1"})
    assert not response.context["cl"].add_facets
    assert "Show counts" not in response.content.decode()


def test_list_refreshes_itself_while_a_listed_task_runs(admin_client):
    TaskMessageFactory(state=states.SUCCESS)
    TaskMessageFactory(state=states.STARTED, worker="w.1", started_at=timezone.now())
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert 'id="dt-list-live"' in html and 'data-refresh="5"' in html


def test_list_of_finished_tasks_stays_still(admin_client):
    TaskMessageFactory(state=states.SUCCESS)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert 'id="dt-list-live"' not in html
