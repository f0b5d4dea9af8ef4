"""The dashboard: counts, throughput, oldest waiting task, workers, failures; and its links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from django_tasks.models import Worker
from tests.admin.conftest import CHANGELIST, DASHBOARD, change_url
from tests.factories import TaskMessageFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def just_before():
    """A moment safely in the dashboard's past: on PostgreSQL it reads now() from the
    database, which inside the test's transaction is the time the transaction began."""
    return timezone.now() - timedelta(seconds=2)


def dashboard(client):
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    return response


def cell(response, queue: str, state: str) -> int:
    row = next(r for r in response.context["queue_table"]["rows"] if r["queue"] == queue)
    return next(c["n"] for c in row["cells"] if c["state"] == state)


def test_dashboard_counts_tasks_per_queue_and_state(admin_client):
    now = just_before()
    TaskMessageFactory.create_batch(3, queue="default", state=states.PENDING, run_at=now)
    TaskMessageFactory(queue="mail", state=states.RETRY, run_at=now + timedelta(minutes=5))
    TaskMessageFactory(queue="mail", state=states.STARTED, worker="w.1", started_at=now)
    TaskMessageFactory(queue="mail", state="PROGRESS", worker="w.1", started_at=now)
    TaskMessageFactory.create_batch(2, queue="default", state=states.SUCCESS, done_at=now)
    TaskMessageFactory(queue="mail", state=states.FAILURE, done_at=now)
    # Finished long ago: outside the window, not on the dashboard.
    TaskMessageFactory(queue="default", state=states.SUCCESS, done_at=now - timedelta(days=2))
    response = dashboard(admin_client)
    assert cell(response, "default", states.PENDING) == 3
    assert cell(response, "default", states.SUCCESS) == 2
    assert cell(response, "mail", states.RETRY) == 1
    assert cell(response, "mail", states.STARTED) == 1
    assert cell(response, "mail", "PROGRESS") == 1
    assert cell(response, "mail", states.FAILURE) == 1
    table = response.context["queue_table"]
    assert table["scheduled"] == 1
    assert {c["state"]: c["n"] for c in table["totals"]}[states.SUCCESS] == 2
    summary = {str(c["label"]): c["n"] for c in response.context["summary"]}
    assert summary == {
        "Waiting": 3,
        "Scheduled": 1,
        "Running": 2,
        "Succeeded (last hour)": 2,
        "Failed (last hour)": 1,
    }
    html = response.content.decode()
    assert f"{reverse(CHANGELIST)}?queue=mail&amp;state=FAILURE" in html


def test_dashboard_shows_throughput_per_minute(admin_client):
    now = just_before()
    TaskMessageFactory.create_batch(4, state=states.SUCCESS, done_at=now)
    TaskMessageFactory(state=states.FAILURE, done_at=now)
    TaskMessageFactory(state=states.SUCCESS, done_at=now - timedelta(minutes=3))
    TaskMessageFactory(state=states.SUCCESS, done_at=now - timedelta(hours=1))
    throughput = dashboard(admin_client).context["throughput"]
    bars = throughput["bars"]
    assert len(bars) == 15
    by_minute = {b["minute"].strftime("%H:%M"): b for b in bars}
    this_minute = by_minute[now.strftime("%H:%M")]
    assert (this_minute["ok"], this_minute["other"]) == (4, 1)
    assert by_minute[(now - timedelta(minutes=3)).strftime("%H:%M")]["ok"] == 1
    assert throughput["total"] == 6
    assert this_minute["ok_pct"] == 80.0 and this_minute["other_pct"] == 20.0


def test_dashboard_shows_the_oldest_waiting_task_and_its_age(admin_client):
    now = just_before()
    old = TaskMessageFactory(
        name="tests.tasks.sleep_for", run_at=now - timedelta(minutes=7, seconds=10)
    )
    TaskMessageFactory(run_at=now - timedelta(minutes=1))
    TaskMessageFactory(run_at=now + timedelta(hours=1))  # not due: not waiting yet
    response = dashboard(admin_client)
    oldest = response.context["oldest"]
    assert oldest["id"] == old.id
    assert oldest["age"] == "7 min"
    assert change_url(old.id) in response.content.decode()


def test_dashboard_lists_live_workers_with_heartbeat_age_and_current_task(admin_client):
    now = just_before()
    supervisor = WorkerFactory(
        name="web1.100",
        hostname="web1",
        pid=100,
        pool="prefork",
        concurrency=2,
        queues=["default", "mail"],
        heartbeat_at=now,
    )
    child = WorkerFactory(
        name="web1.101", hostname="web1", pid=101, supervisor="web1.100", heartbeat_at=now
    )
    WorkerFactory(
        name="web2.200", hostname="web2", heartbeat_at=now - timedelta(minutes=10, seconds=10)
    )
    task = TaskMessageFactory(
        name="tests.tasks.progress",
        state="PROGRESS",
        worker=child.name,
        started_at=now - timedelta(seconds=4),
        reserved_at=now,
        result={"current": 1, "total": 2},
    )
    claimed = TaskMessageFactory(
        state=states.RECEIVED, worker=child.name, reserved_at=now + timedelta(seconds=1)
    )
    response = dashboard(admin_client)
    workers = {
        (w["worker"].name if w["worker"] else w["name"]): w for w in response.context["workers"]
    }
    assert set(workers) == {"web1.100", "web1.101", "web2.200"}
    # What it runs, then what it claimed to run next.
    assert [t["id"] for t in workers["web1.101"]["tasks"]] == [task.id, claimed.id]
    assert workers["web1.101"]["tasks"][0]["progress"]["percent"] == 50.0
    assert workers["web1.100"]["tasks"] == []
    assert workers["web1.101"]["heartbeat_age"].endswith(" s")
    assert not workers["web1.101"]["stale"]
    assert workers["web2.200"]["stale"] and workers["web2.200"]["heartbeat_age"] == "10 min"
    html = response.content.decode()
    assert change_url(task.id) in html
    assert "prefork ×2" in html and "default, mail" in html
    assert supervisor.name in html


def test_dashboard_shows_tasks_held_by_a_worker_that_has_no_row(admin_client):
    TaskMessageFactory(state=states.STARTED, worker="gone.1", started_at=timezone.now())
    workers = dashboard(admin_client).context["workers"]
    assert [(w["worker"], w["name"], w["stale"]) for w in workers] == [(None, "gone.1", True)]


def test_dashboard_groups_recent_failures_by_exception_type(admin_client):
    now = just_before()
    TaskMessageFactory.create_batch(
        3, state=states.FAILURE, exc_type="builtins.KeyError", done_at=now
    )
    TaskMessageFactory(
        state=states.FAILURE, exc_type="builtins.ValueError", exc_message="bad", done_at=now
    )
    TaskMessageFactory(
        state=states.FAILURE, exc_type="builtins.OSError", done_at=now - timedelta(days=3)
    )
    response = dashboard(admin_client)
    types = [(f["exc_type"], f["n"]) for f in response.context["failure_types"]]
    assert types == [("builtins.KeyError", 3), ("builtins.ValueError", 1)]
    assert len(response.context["recent_failures"]) == 5
    html = response.content.decode()
    assert f"{reverse(CHANGELIST)}?state=FAILURE&amp;exc_type=builtins.KeyError" in html


def test_empty_dashboard_says_so(admin_client):
    html = dashboard(admin_client).content.decode()
    assert "No worker is running" in html
    assert "No failures." in html
    assert "No task is waiting or running" in html


def test_dashboard_reads_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    for i in range(10):
        WorkerFactory(name=f"w.{i}")
        TaskMessageFactory(state=states.STARTED, worker=f"w.{i}", started_at=now)
        TaskMessageFactory(state=states.FAILURE, exc_type=f"E{i}", done_at=now)
    # Session, user, the request's savepoint pair, and one read per dashboard figure.
    with django_assert_max_num_queries(16):
        dashboard(admin_client)


def test_dashboard_is_linked_from_the_app_index_and_the_task_list(admin_client):
    url = reverse(DASHBOARD)
    app_index = admin_client.get(reverse("admin:app_list", args=["django_tasks"]))
    assert url in app_index.content.decode()
    assert url in admin_client.get(reverse(CHANGELIST)).content.decode()


def test_dashboard_needs_view_permission(staff_client):
    assert staff_client().get(reverse(DASHBOARD)).status_code == 403


def test_dashboard_is_open_to_view_only_staff(staff_client):
    response = staff_client("view_taskmessage").get(reverse(DASHBOARD))
    assert response.status_code == 200


# -- workers ------------------------------------------------------------------------------------


def test_worker_list_shows_heartbeat_age_and_is_read_only(admin_client):
    WorkerFactory(
        name="web1.7",
        hostname="web1",
        pid=7,
        queues=["default", "mail"],
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    response = admin_client.get(reverse("admin:django_tasks_worker_changelist"))
    html = response.content.decode()
    assert "web1.7" in html and "default, mail" in html
    assert '<span class="dt-stale">5 min</span>' in html
    assert reverse("admin:django_tasks_worker_add") not in html
    assert admin_client.get(reverse("admin:django_tasks_worker_add")).status_code == 403
    change = reverse("admin:django_tasks_worker_change", args=["web1.7"])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    admin_client.post(change, {"hostname": "elsewhere", "pid": 1})
    assert Worker.objects.get(name="web1.7").hostname == "web1"


def test_admin_index_links_the_dashboard_at_the_url_the_demo_prints(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/django_tasks/dashboard/"' in index
    response = admin_client.get("/admin/django_tasks/dashboard/", follow=True)
    assert response.redirect_chain == [(reverse(DASHBOARD), 302)]
    assert response.status_code == 200


def test_admin_index_hides_the_dashboard_without_the_view_permission(staff_client):
    client = staff_client()
    assert (
        "/admin/django_tasks/dashboard/" not in client.get(reverse("admin:index")).content.decode()
    )
    assert client.get("/admin/django_tasks/dashboard/", follow=True).status_code == 403


def test_queue_table_badges_and_numbers_share_their_column_alignment(admin_client):
    TaskMessageFactory(queue="default", state=states.PENDING, run_at=just_before())
    html = dashboard(admin_client).content.decode()
    table = html.split('class="dt-table"', 1)[1].split("</table>", 1)[0]
    header = table.split("<tbody>")[0]
    # Every state badge heads a right-aligned numeric column, as its numbers are.
    assert header.count('<th class="dt-num"><span class="dt-badge') >= 2
    assert '<td class="dt-num">' in table
