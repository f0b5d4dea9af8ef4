"""The blog's admin: comments with their verdict and a link to the task that judged them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_tasks import states
from django_tasks.models import TaskMessage
from testproject.blog.models import Comment, Entry
from tests.admin.conftest import change_url
from tests.factories import TaskMessageFactory

pytestmark = pytest.mark.django_db

COMMENTS = reverse("admin:blog_comment_changelist")


@pytest.fixture
def entry():
    return Entry.objects.create(title="Tasks", slug="tasks", body="...")


def comment(entry, name, is_spam, task_state=states.SUCCESS):
    task = TaskMessageFactory(name="testproject.blog.tasks.spam_filter", state=task_state)
    return Comment.objects.create(
        entry=entry,
        name=name,
        email=f"{name}@example.com",
        comment=f"Hello from {name}",
        is_spam=is_spam,
        spam_task_id=task.id,
    )


def test_comment_list_shows_verdict_and_links_the_judging_task(admin_client, entry):
    spam = comment(entry, "spammy", True)
    ham = comment(entry, "ada", False)
    waiting = comment(entry, "new", None, task_state=states.PENDING)
    html = admin_client.get(COMMENTS).content.decode()
    assert 'class="verdict verdict-spam dt-badge dt-failure">spam</span>' in html
    assert 'class="verdict verdict-ham dt-badge dt-success">ham</span>' in html
    assert 'class="verdict verdict-pending">pending</span>' in html
    for c in (spam, ham, waiting):
        assert f'<a class="spam-task" href="{change_url(c.spam_task_id)}">' in html
    assert '<span class="dt-badge dt-pending">PENDING</span>' in html


def test_comment_list_filters_by_verdict(admin_client, entry):
    spam = comment(entry, "spammy", True)
    comment(entry, "ada", False)
    response = admin_client.get(COMMENTS, {"is_spam__exact": "1"})
    assert list(response.context["cl"].result_list) == [spam]


def test_comment_list_reads_task_states_in_the_same_query(admin_client, entry):
    comment(entry, "one", True)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(COMMENTS)
    for i in range(10):
        comment(entry, f"c{i}", False)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(COMMENTS)
    assert len(many) == len(few)


def test_check_again_enqueues_a_new_spam_check(
    admin_client, entry, django_capture_on_commit_callbacks
):
    c = comment(entry, "spammy", True)
    old_task = c.spam_task_id
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(COMMENTS, {"action": "check_again", "_selected_action": [c.pk]})
    c.refresh_from_db()
    assert c.is_spam is None and c.spam_task_id != old_task
    task = TaskMessage.objects.get(pk=c.spam_task_id)
    assert (task.state, task.kwargs) == (states.PENDING, {"comment_id": c.pk})


def test_comment_page_links_the_task(admin_client, entry):
    c = comment(entry, "spammy", True)
    page = admin_client.get(reverse("admin:blog_comment_change", args=[c.pk]))
    assert change_url(c.spam_task_id) in page.content.decode()
