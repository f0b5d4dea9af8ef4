"""Admin actions: each calls one broker verb, says what it did, and checks permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from django_tasks.admin.tasks import ACTS_ON
from django_tasks.models import TaskAttempt, TaskMessage
from tests.admin.conftest import CHANGELIST, act_url, change_url, messages_of
from tests.factories import TaskAttemptFactory, TaskMessageFactory

pytestmark = pytest.mark.django_db


def run_action(client, action: str, *tasks):
    return client.post(
        reverse(CHANGELIST),
        {
            "action": action,
            "_selected_action": [t.id for t in tasks],
        },
        follow=True,
    )


def state_of(task) -> str:
    return TaskMessage.objects.get(pk=task.pk).state


def running(**fields):
    return TaskMessageFactory(
        **{"state": states.STARTED, "worker": "w.1", "started_at": timezone.now(), **fields}
    )


def test_requeue_runs_finished_tasks_again_under_the_same_id(admin_client):
    failed = TaskMessageFactory(
        state=states.FAILURE, exc_type="ValueError", retries=3, done_at=timezone.now()
    )
    TaskAttemptFactory(task=failed, number=4)
    revoked = TaskMessageFactory(state=states.REVOKED)
    done = TaskMessageFactory(state=states.SUCCESS, result=5)
    busy = running()
    response = run_action(admin_client, "requeue", failed, revoked, done, busy)
    assert messages_of(response) == ["3 tasks requeued, 1 skipped: still running."]
    for task in (failed, revoked, done):
        row = TaskMessage.objects.get(pk=task.pk)
        assert (row.state, row.exc_type, row.result, row.done_at) == (
            states.PENDING,
            "",
            None,
            None,
        )
    assert state_of(busy) == states.STARTED
    # The attempt history is kept: the requeued run is the next attempt of the same task.
    assert TaskAttempt.objects.filter(task_id=failed.id).count() == 1


def test_requeue_names_each_reason_for_skipping(admin_client):
    failed = TaskMessageFactory(state=states.FAILURE)
    waiting = TaskMessageFactory(state=states.PENDING)
    busy = running()
    text = messages_of(run_action(admin_client, "requeue", failed, waiting, busy))[0]
    assert text.startswith("1 task requeued, 2 skipped: ")
    assert "1 still waiting" in text and "1 still running" in text


def test_requeue_of_one_task_is_singular(admin_client):
    response = run_action(admin_client, "requeue", TaskMessageFactory(state=states.FAILURE))
    assert messages_of(response) == ["1 task requeued."]


def test_revoke_stops_waiting_and_claimed_tasks_but_not_running_ones(admin_client):
    pending = TaskMessageFactory(state=states.PENDING)
    retry = TaskMessageFactory(state=states.RETRY, retries=1)
    claimed = TaskMessageFactory(state=states.RECEIVED, worker="w.1")
    busy = running()
    done = TaskMessageFactory(state=states.SUCCESS)
    response = run_action(admin_client, "revoke", pending, retry, claimed, busy, done)
    text = messages_of(response)[0]
    assert text.startswith("3 tasks revoked, 2 skipped: ")
    assert "1 still running (terminate it instead)" in text and "1 already finished" in text
    assert [state_of(t) for t in (pending, retry, claimed, busy, done)] == [
        states.REVOKED,
        states.REVOKED,
        states.REVOKED,
        states.STARTED,
        states.SUCCESS,
    ]


def test_terminate_revokes_running_tasks_for_their_worker_to_kill(admin_client):
    busy = running()
    progress = running(state="PROGRESS", result={"current": 1, "total": 9})
    done = TaskMessageFactory(state=states.FAILURE)
    response = run_action(admin_client, "terminate", busy, progress, done)
    assert messages_of(response) == ["2 tasks terminated, 1 skipped: already finished."]
    row = TaskMessage.objects.get(pk=busy.pk)
    assert (row.state, row.exc_message) == (states.REVOKED, "terminated")
    assert state_of(progress) == states.REVOKED


def test_run_now_clears_the_eta_of_waiting_tasks(admin_client):
    later = timezone.now() + timedelta(hours=1)
    scheduled = TaskMessageFactory(state=states.PENDING, eta=later, run_at=later)
    retry = TaskMessageFactory(state=states.RETRY, eta=later, run_at=later)
    done = TaskMessageFactory(state=states.SUCCESS)
    response = run_action(admin_client, "run_now", scheduled, retry, done)
    assert messages_of(response) == ["2 tasks due now, 1 skipped: already finished."]
    for task in (scheduled, retry):
        row = TaskMessage.objects.get(pk=task.pk)
        assert row.eta is None and row.run_at <= timezone.now()


def test_delete_removes_finished_tasks_and_their_attempts_only(admin_client):
    done = TaskMessageFactory(state=states.SUCCESS)
    failed = TaskMessageFactory(state=states.FAILURE)
    TaskAttemptFactory(task=failed)
    waiting = TaskMessageFactory(state=states.PENDING)
    response = run_action(admin_client, "delete_finished", done, failed, waiting)
    assert messages_of(response) == ["2 tasks deleted, 1 skipped: still waiting."]
    assert list(TaskMessage.objects.values_list("id", flat=True)) == [waiting.id]
    assert not TaskAttempt.objects.exists()


def test_stock_delete_selected_is_not_offered(admin_client):
    response = admin_client.get(reverse(CHANGELIST))
    choices = [name for name, _label in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"requeue", "revoke", "terminate", "run_now", "delete_finished"} <= set(choices)


def test_staff_without_change_permission_cannot_requeue(staff_client):
    client = staff_client("view_taskmessage")
    failed = TaskMessageFactory(state=states.FAILURE)
    run_action(client, "requeue", failed)
    assert state_of(failed) == states.FAILURE
    assert client.post(act_url(failed.id, "requeue")).status_code == 403
    assert state_of(failed) == states.FAILURE


def test_staff_with_change_but_not_delete_permission_can_requeue_not_delete(staff_client):
    client = staff_client("view_taskmessage", "change_taskmessage")
    failed = TaskMessageFactory(state=states.FAILURE)
    done = TaskMessageFactory(state=states.SUCCESS)
    response = run_action(client, "requeue", failed)
    assert messages_of(response) == ["1 task requeued."]
    run_action(client, "delete_finished", done)
    assert client.post(act_url(done.id, "delete_finished")).status_code == 403
    assert TaskMessage.objects.filter(pk=done.pk).exists()


def test_staff_with_delete_permission_can_delete(staff_client):
    client = staff_client("view_taskmessage", "delete_taskmessage")
    done = TaskMessageFactory(state=states.SUCCESS)
    response = run_action(client, "delete_finished", done)
    assert messages_of(response) == ["1 task deleted."]
    assert not TaskMessage.objects.filter(pk=done.pk).exists()


# -- the buttons on the task page --------------------------------------------------------------


def buttons(response) -> list[str]:
    return [b["name"] for b in response.context["task_buttons"]]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": states.FAILURE}, ["requeue", "delete_finished"]),
        ({"state": states.PENDING}, ["revoke", "run_now"]),
        ({"state": states.RECEIVED, "worker": "w.1"}, ["revoke", "terminate"]),
        ({"state": states.STARTED, "worker": "w.1", "started_at": timezone.now()}, ["terminate"]),
        ({"state": "PROGRESS", "worker": "w.1", "started_at": timezone.now()}, ["terminate"]),
    ],
)
def test_task_page_offers_the_actions_its_state_allows(admin_client, fields, expected):
    task = TaskMessageFactory(**fields)
    assert buttons(admin_client.get(change_url(task.id))) == expected


def test_task_page_offers_only_permitted_actions(staff_client):
    failed = TaskMessageFactory(state=states.FAILURE)
    client = staff_client("view_taskmessage")
    response = client.get(change_url(failed.id))
    assert buttons(response) == []
    assert "dt-buttons" not in response.content.decode()


def test_task_page_button_requeues_and_returns_to_the_task(admin_client):
    failed = TaskMessageFactory(state=states.FAILURE)
    html = admin_client.get(change_url(failed.id)).content.decode()
    assert f'formaction="{act_url(failed.id, "requeue")}"' in html
    response = admin_client.post(act_url(failed.id, "requeue"))
    assert response.status_code == 302
    assert response["Location"] == change_url(failed.id)
    assert state_of(failed) == states.PENDING
    assert messages_of(admin_client.get(change_url(failed.id))) == ["1 task requeued."]


def test_task_page_button_that_does_nothing_says_why(admin_client):
    busy = running()
    response = admin_client.post(act_url(busy.id, "requeue"), follow=True)
    assert messages_of(response) == ["0 tasks requeued, 1 skipped: still running."]


def test_task_page_delete_button_returns_to_the_list(admin_client):
    done = TaskMessageFactory(state=states.SUCCESS)
    response = admin_client.post(act_url(done.id, "delete_finished"))
    assert response["Location"] == reverse(CHANGELIST)
    assert not TaskMessage.objects.filter(pk=done.pk).exists()


def test_task_action_url_refuses_get_and_unknown_actions(admin_client):
    failed = TaskMessageFactory(state=states.FAILURE)
    assert admin_client.get(act_url(failed.id, "requeue")).status_code == 405
    assert admin_client.post(act_url(failed.id, "delete_selected")).status_code == 403
    assert state_of(failed) == states.FAILURE


@pytest.mark.parametrize("action", sorted(ACTS_ON))
def test_each_action_takes_the_states_its_broker_verb_publishes_and_skips_the_rest(
    admin_client, action
):
    every_state = (*sorted(states.ALL_STATES), "PROGRESS")
    rows = [TaskMessageFactory(state=state, worker="w.1") for state in every_state]
    taken = sum(1 for state in every_state if state in ACTS_ON[action])
    assert 0 < taken < len(rows)
    text = messages_of(run_action(admin_client, action, *rows))[0]
    assert text.startswith(f"{taken} tasks ")
    assert f", {len(rows) - taken} skipped: " in text


def test_a_requeued_successful_run_appears_in_the_attempt_history(admin_client):
    started = timezone.now() - timedelta(seconds=5)
    done = TaskMessageFactory(
        state=states.SUCCESS, result=5, worker="web1.4711", started_at=started, done_at=started
    )
    run_action(admin_client, "requeue", done)
    first = TaskAttempt.objects.get(task_id=done.id)
    assert (first.number, first.state, first.worker) == (1, states.SUCCESS, "web1.4711")
    # A second requeue while it waits skips it and records nothing more.
    run_action(admin_client, "requeue", done)
    assert TaskAttempt.objects.filter(task_id=done.id).count() == 1
    # It succeeds again (as a worker would record it), and is requeued again: attempt 2.
    TaskMessage.objects.filter(pk=done.pk).update(
        state=states.SUCCESS, worker="web2.99", done_at=timezone.now()
    )
    run_action(admin_client, "requeue", done)
    assert list(TaskAttempt.objects.filter(task_id=done.id).values_list("number", "worker")) == [
        (1, "web1.4711"),
        (2, "web2.99"),
    ]
    page = admin_client.get(change_url(done.id)).content.decode()
    assert "No earlier attempts" not in page and "web1.4711" in page
