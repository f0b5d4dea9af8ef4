"""SQLite as the demo runs it: web requests that write, beside a worker draining the queue."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from django_tasks import group
from django_tasks.models import TaskMessage
from testproject.blog.models import Comment, Entry
from tests import tasks

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True)]

ROUNDS = 12
THREADS = 3


def _requests(entry: Entry, n: int, failures: list[str]) -> None:
    """Log in and post a comment `ROUNDS` times: each a read-then-write transaction."""
    client = Client()
    try:
        for i in range(ROUNDS):
            for label, do in (
                (
                    "login",
                    lambda: client.post(
                        "/admin/login/?next=/admin/",
                        {"username": "ada", "password": "pw", "next": "/admin/"},
                    ),
                ),
                (
                    "comment",
                    lambda i=i: client.post(
                        entry.get_absolute_url() + "comment/",
                        {"name": f"t{n}", "email": "a@example.com", "comment": f"round {i}"},
                    ),
                ),
            ):
                try:
                    response = do()
                except Exception as exc:  # a 500 raises from the test client
                    failures.append(f"{label}: {exc!r}")
                    continue
                if response.status_code != 302:
                    failures.append(f"{label}: HTTP {response.status_code}")
            client.logout()
    finally:
        connections.close_all()


def test_logins_and_comments_never_fail_beside_a_draining_worker(runtasks, wait_for, settings):
    # 36 comments from one address in seconds: the blog's rate limit would refuse most.
    settings.BLOG_COMMENTS_PER_MINUTE = None
    User.objects.create_superuser("ada", "ada@example.com", "pw")
    entry = Entry.objects.create(title="Locks", slug="locks", body="WAL.")
    # Enough quick tasks that the worker claims and finishes throughout the requests.
    group(tasks.add.s(i, i) for i in range(600)).apply_async()
    assert TaskMessage.objects.count() == 600
    worker = runtasks("--concurrency", "2")
    wait_for(lambda: TaskMessage.objects.filter(state="SUCCESS").exists(), 30)
    failures: list[str] = []
    threads = [
        threading.Thread(target=_requests, args=(entry, n, failures)) for n in range(THREADS)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - started
    assert worker.poll() is None, worker.output()
    assert failures == [], f"{len(failures)} failures in {elapsed:.1f}s: {failures[:5]}"
    assert Comment.objects.count() == ROUNDS * THREADS
    # The worker really drained beside the requests (it wrote while they wrote).
    wait_for(lambda: not TaskMessage.objects.exclude(state="SUCCESS").exists(), 60)
