"""The task page: call and outcome as JSON, traceback, attempts, chain, live progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from tests.admin.conftest import change_url, progress_url
from tests.factories import TaskAttemptFactory, TaskMessageFactory

pytestmark = pytest.mark.django_db


def test_page_shows_args_kwargs_and_result_as_pretty_json(admin_client):
    task = TaskMessageFactory(
        state=states.SUCCESS,
        args=[1, "two"],
        kwargs={"to": "ada"},
        result={"sum": 3, "items": [1, 2]},
    )
    html = admin_client.get(change_url(task.id)).content.decode()
    assert '<pre class="dt-json">[\n  1,\n  &quot;two&quot;\n]</pre>' in html
    assert '<pre class="dt-json">{\n  &quot;to&quot;: &quot;ada&quot;\n}</pre>' in html
    assert "&quot;sum&quot;: 3," in html


def test_page_shows_the_exception_and_full_traceback(admin_client):
    traceback = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: <kaput>'
    task = TaskMessageFactory(
        state=states.FAILURE,
        exc_type="builtins.ValueError",
        exc_message="<kaput>",
        traceback=traceback,
    )
    html = admin_client.get(change_url(task.id)).content.decode()
    assert '<code class="dt-exc">builtins.ValueError</code>: &lt;kaput&gt;' in html
    assert (
        '<pre class="dt-traceback">Traceback (most recent call last):\n  File '
        "&quot;t.py&quot;, line 1\nValueError: &lt;kaput&gt;</pre>"
    ) in html


def test_page_lists_each_attempt_with_its_time_worker_and_error(admin_client):
    task = TaskMessageFactory(state=states.SUCCESS, retries=2)
    TaskAttemptFactory(
        task=task,
        number=1,
        state=states.RETRY,
        worker="web1.11",
        exc_type="ConnectionError",
        exc_message="attempt 0",
        traceback="Traceback ...\nConnectionError: attempt 0",
    )
    TaskAttemptFactory(
        task=task,
        number=2,
        state=states.RETRY,
        worker="web2.22",
        exc_type="ConnectionError",
        exc_message="attempt 1",
    )
    response = admin_client.get(change_url(task.id))
    attempts = response.context["task_attempts"]
    assert [(a.number, a.worker) for a in attempts] == [(1, "web1.11"), (2, "web2.22")]
    html = response.content.decode()
    assert html.count('<tr class="dt-attempt">') == 2
    assert "web1.11" in html and "web2.22" in html
    assert "ConnectionError</code>: attempt 1" in html
    assert "<summary>traceback</summary>" in html


def test_first_run_says_there_were_no_earlier_attempts(admin_client):
    html = admin_client.get(change_url(TaskMessageFactory().id)).content.decode()
    assert "No earlier attempts" in html


def test_page_links_the_parent_and_the_children_of_a_chain(admin_client):
    parent = TaskMessageFactory(state=states.SUCCESS)
    task = TaskMessageFactory(state=states.SUCCESS, parent_id=parent.id)
    child = TaskMessageFactory(parent_id=task.id, name="tests.tasks.noop")
    html = admin_client.get(change_url(task.id)).content.decode()
    assert f'<a href="{change_url(parent.id)}">{parent.id}</a>' in html
    assert f'<a href="{change_url(child.id)}">{child.id}</a> tests.tasks.noop' in html


def test_page_links_the_group_to_its_tasks(admin_client):
    task = TaskMessageFactory(group_id="g-42")
    html = admin_client.get(change_url(task.id)).content.decode()
    assert f"{reverse('admin:django_tasks_taskmessage_changelist')}?group_id=g-42" in html


def test_page_shows_progress_of_a_running_task_as_a_bar(admin_client):
    task = TaskMessageFactory(
        state="PROGRESS",
        result={"current": 3, "total": 12},
        worker="w.1",
        started_at=timezone.now(),
    )
    response = admin_client.get(change_url(task.id))
    assert response.context["task_progress"] == {"current": 3, "total": 12, "percent": 25.0}
    html = response.content.decode()
    assert f'data-progress-url="{progress_url(task.id)}"' in html
    assert '<div class="dt-progress-bar" style="width: 25.0%"></div>' in html
    assert "3 / 12 (25.0%)" in html
    assert "django_tasks/admin.js" in html


def test_a_finished_task_page_does_not_poll(admin_client):
    task = TaskMessageFactory(state=states.SUCCESS)
    html = admin_client.get(change_url(task.id)).content.decode()
    assert "data-progress-url" not in html


def test_progress_endpoint_reports_state_and_progress(admin_client):
    task = TaskMessageFactory(state="PROGRESS", result={"current": 1, "total": 4})
    data = admin_client.get(progress_url(task.id)).json()
    assert data == {
        "id": task.id,
        "state": "PROGRESS",
        "ready": False,
        "badge": '<span class="dt-badge dt-custom">PROGRESS</span>',
        "progress": {"current": 1, "total": 4, "percent": 25.0},
        "meta": {"current": 1, "total": 4},
    }
    task.state, task.result = states.SUCCESS, 4
    task.save()
    data = admin_client.get(progress_url(task.id)).json()
    assert (data["state"], data["ready"], data["progress"]) == (states.SUCCESS, True, None)


def test_progress_endpoint_needs_view_permission(staff_client):
    task = TaskMessageFactory(state="PROGRESS")
    assert staff_client().get(progress_url(task.id)).status_code == 403


def test_page_is_read_only_without_save_or_delete_buttons(admin_client):
    task = TaskMessageFactory(state=states.FAILURE)
    response = admin_client.get(change_url(task.id))
    html = response.content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert reverse("admin:django_tasks_taskmessage_delete", args=[task.id]) not in html
    assert list(response.context["adminform"].form.fields) == []


def test_posting_the_change_form_writes_nothing(admin_client):
    task = TaskMessageFactory(state=states.FAILURE, name="tests.tasks.fail")
    response = admin_client.post(
        change_url(task.id), {"name": "tests.tasks.add", "state": states.SUCCESS}
    )
    assert response.status_code == 405
    task.refresh_from_db()
    assert (task.name, task.state) == ("tests.tasks.fail", states.FAILURE)


def test_stock_delete_page_is_refused(admin_client):
    task = TaskMessageFactory(state=states.SUCCESS)
    url = reverse("admin:django_tasks_taskmessage_delete", args=[task.id])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    task.refresh_from_db()


def test_page_of_a_missing_task_redirects_with_a_message(admin_client):
    response = admin_client.get(change_url("no-such-task"), follow=True)
    assert "doesn’t exist" in response.content.decode()


def test_timing_fields_are_shown(admin_client):
    now = timezone.now()
    task = TaskMessageFactory(
        state=states.SUCCESS,
        started_at=now,
        done_at=now + timedelta(milliseconds=14),
        worker="web1.1",
    )
    html = admin_client.get(change_url(task.id)).content.decode()
    assert "0.014 s" in html
    assert "web1.1" in html


def test_progress_endpoint_of_a_missing_task_is_404(admin_client):
    assert admin_client.get(progress_url("no-such-task")).status_code == 404
