"""The blog's comment flow: saved in the request, its spam check enqueued on commit."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_tasks import states
from django_tasks.models import TaskMessage
from testproject.blog.models import Comment, Entry

SPAM = {
    "name": "Spammy",
    "email": "win@example.net",
    "homepage": "",
    "comment": "Cheap pills at http://a.example http://b.example http://c.example",
}
HAM = {
    "name": "Ada",
    "email": "ada@example.com",
    "homepage": "",
    "comment": "Lovely write-up, the part on transactions helped a lot.",
}


@pytest.fixture
def entry(db):
    return Entry.objects.create(title="Tasks in the database", slug="tasks", body="A table.")


def test_index_and_entry_pages_render(client, entry):
    assert entry.title in client.get(reverse("blog:index")).content.decode()
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "No comments yet." in page and "Post comment" in page


def test_posted_comment_is_saved_and_its_task_is_written_on_commit(
    client, entry, django_capture_on_commit_callbacks
):
    url = reverse("blog:add_comment", args=[entry.slug])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url, SPAM, REMOTE_ADDR="198.51.100.7")
        comment = Comment.objects.get()
        # The request's transaction has not committed yet: no task row.
        assert not TaskMessage.objects.exists()
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response["Location"] == f"{entry.get_absolute_url()}#comment-{comment.pk}"
    assert (comment.entry, comment.name, comment.is_spam) == (entry, "Spammy", None)
    task = TaskMessage.objects.get()
    assert task.id == comment.spam_task_id
    assert (task.name, task.state) == ("testproject.blog.tasks.spam_filter", states.PENDING)
    assert task.kwargs == {"comment_id": comment.pk, "remote_addr": "198.51.100.7"}


def test_posted_comment_writes_one_comment_row(client, entry, django_capture_on_commit_callbacks):
    url = reverse("blog:add_comment", args=[entry.slug])
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks():
        client.post(url, HAM)
    writes = [
        q["sql"]
        for q in queries
        if "blog_comment" in q["sql"] and q["sql"].startswith(("INSERT", "UPDATE"))
    ]
    assert len(writes) == 1


def test_invalid_comment_is_refused_and_enqueues_nothing(
    client, entry, django_capture_on_commit_callbacks
):
    url = reverse("blog:add_comment", args=[entry.slug])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {**HAM, "email": "not-an-email"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert callbacks == []
    assert not Comment.objects.exists() and not TaskMessage.objects.exists()


def test_comment_on_a_missing_entry_is_404(client, db):
    assert client.post(reverse("blog:add_comment", args=["nope"]), HAM).status_code == 404


def test_entry_page_shows_each_verdict(client, entry):
    Comment.objects.create(entry=entry, is_spam=None, **{**HAM, "name": "Waiting"})
    Comment.objects.create(entry=entry, is_spam=True, **SPAM)
    Comment.objects.create(entry=entry, is_spam=False, **HAM)
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "(being checked)" in page and "(spam)" in page and "(ham)" in page


@pytest.mark.django_db(transaction=True)
def test_a_posted_comment_is_judged_by_a_real_worker(client, runtasks):
    entry = Entry.objects.create(title="Tasks", slug="tasks", body="...")
    url = reverse("blog:add_comment", args=[entry.slug])
    client.post(url, SPAM)
    client.post(url, HAM)
    assert TaskMessage.objects.count() == 2  # committed with their requests
    assert runtasks("--burst", "-c", "1").wait(timeout=60) == 0
    verdicts = dict(Comment.objects.values_list("name", "is_spam"))
    assert verdicts == {"Spammy": True, "Ada": False}
    assert set(TaskMessage.objects.values_list("state", flat=True)) == {states.SUCCESS}


def test_a_comment_over_the_size_limit_is_refused_and_enqueues_nothing(
    client, entry, django_capture_on_commit_callbacks
):
    from testproject.blog.forms import COMMENT_MAX_LENGTH

    url = reverse("blog:add_comment", args=[entry.slug])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {**HAM, "comment": "x" * (COMMENT_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert f"at most {COMMENT_MAX_LENGTH} characters" in response.content.decode()
    assert callbacks == [] and not Comment.objects.exists()


def test_comments_are_shown_twenty_a_page(client, entry):
    Comment.objects.bulk_create(
        Comment(entry=entry, name=f"n{i:02}", email="a@example.com", comment=f"c{i:02}")
        for i in range(45)
    )
    first = client.get(entry.get_absolute_url()).content.decode()
    assert first.count('class="comment"') == 20 and "Page 1 of 3" in first
    last = client.get(entry.get_absolute_url() + "?page=3").content.decode()
    assert last.count('class="comment"') == 5 and "Page 3 of 3" in last
    # A page number that is not one shows a page, not an error.
    assert client.get(entry.get_absolute_url() + "?page=%00x").status_code == 200


def test_a_sixth_comment_in_a_minute_from_one_address_is_refused_with_429(
    client, entry, settings, django_capture_on_commit_callbacks
):
    settings.BLOG_COMMENTS_PER_MINUTE = 5
    url = reverse("blog:add_comment", args=[entry.slug])
    for i in range(5):
        posted = client.post(url, {**HAM, "comment": f"c{i}"}, REMOTE_ADDR="198.51.100.7")
        assert posted.status_code == 302
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {**HAM, "comment": "c5"}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    page = response.content.decode()
    assert "Too many comments from your address: at most 5 a minute. Try again in" in page
    assert "c5" in page  # the form comes back with what was typed
    assert callbacks == [] and Comment.objects.count() == 5
    # Another address is counted apart.
    assert client.post(url, HAM, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_a_comment_refused_by_the_form_does_not_count_towards_the_rate_limit(
    client, entry, settings
):
    settings.BLOG_COMMENTS_PER_MINUTE = 1
    url = reverse("blog:add_comment", args=[entry.slug])
    assert client.post(url, {**HAM, "email": "not-an-email"}).status_code == 400
    assert client.post(url, HAM).status_code == 302
    assert client.post(url, HAM).status_code == 429


def test_the_rate_limit_is_off_when_set_to_none(client, entry, settings):
    settings.BLOG_COMMENTS_PER_MINUTE = None
    url = reverse("blog:add_comment", args=[entry.slug])
    assert all(client.post(url, HAM).status_code == 302 for _ in range(20))
