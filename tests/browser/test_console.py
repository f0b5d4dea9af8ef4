"""
The console in a real browser, with a real worker: the blog's spam check end to end, a
failed task requeued from its page, and a running task's progress bar moving by itself.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from django_tasks.models import TaskMessage
from testproject.blog.models import Comment, Entry
from tests import tasks
from tests.admin.conftest import CHANGELIST, DASHBOARD, change_url
from tests.factories import TaskAttemptFactory, TaskMessageFactory
from tests.models import Execution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_spam_comment_is_flagged_by_a_worker_and_shown_in_the_admin(
    page, live_server, runtasks, wait_for, screenshot
):
    from playwright.sync_api import expect

    entry = Entry.objects.create(
        title="Tasks in the database", slug="tasks-in-the-database", body="Our queue is a table."
    )
    page.goto(entry.get_absolute_url())
    page.fill("#id_name", "Lucky")
    page.fill("#id_email", "lotto@example.net")
    page.fill("#id_comment", "You won the lottery! Claim your crypto giveaway now.")
    page.click("text=Post comment")
    expect(page.locator(".comment .verdict")).to_have_text("(being checked)")

    runtasks("-c", "1")
    comment = Comment.objects.get()
    wait_for(lambda: Comment.objects.get().is_spam is not None, 30)
    page.reload()
    expect(page.locator(".comment .verdict")).to_have_text("(spam)")

    page.goto(reverse("admin:blog_comment_changelist"))
    row = page.locator("#result_list tbody tr", has_text="Lucky")
    expect(row.locator(".verdict")).to_have_text("spam")
    row.locator("a.spam-task").click()
    expect(page).to_have_url(f"{live_server.url}{change_url(comment.spam_task_id)}")
    expect(page.locator(".dt-live-state .dt-badge")).to_have_text(states.SUCCESS)
    expect(page.locator(".field-result_json pre")).to_contain_text('"is_spam": true')

    page.goto(reverse(DASHBOARD))
    default_row = page.locator("#dt-queues tbody tr", has_text="default")
    success_column = _columns(page).index(states.SUCCESS)
    expect(default_row.locator("td").nth(success_column)).to_have_text("1")
    expect(page.locator("#dt-workers tbody tr").first).to_be_visible()
    screenshot(page, "dashboard-after-spam-check")


def _columns(page) -> list[str]:
    return page.locator("#dt-queues thead tr").nth(1).locator("th").all_inner_texts()


def test_a_failed_task_is_requeued_from_its_page_and_succeeds(page, runtasks, wait_for, screenshot):
    from playwright.sync_api import expect

    result = tasks.needs_row.delay("flag-1")
    runtasks("-c", "1")
    wait_for(lambda: result.state == states.FAILURE, 30)

    page.goto(change_url(result.id))
    expect(page.locator(".dt-live-state .dt-badge")).to_have_text(states.FAILURE)
    expect(page.locator(".field-traceback_display pre")).to_contain_text(
        "LookupError: no tests_execution row 'flag-1' yet"
    )
    expect(page.locator("tr.dt-attempt")).to_have_count(1)
    screenshot(page, "task-failed")

    Execution.objects.create(key="flag-1")  # what the task was missing
    page.click("button.dt-button-requeue")
    expect(page.locator("ul.messagelist")).to_contain_text("1 task requeued.")
    # The page polls while the task waits and runs, and reloads once it has finished.
    expect(page.locator(".dt-live-state .dt-badge")).to_have_text(states.SUCCESS, timeout=30_000)
    expect(page.locator(".field-result_json pre")).to_have_text('"flag-1"')
    # Same id, a new attempt: the failed one stays in the history.
    assert TaskMessage.objects.get(pk=result.id).state == states.SUCCESS
    expect(page.locator("tr.dt-attempt")).to_have_count(1)
    expect(page.locator("tr.dt-attempt")).to_contain_text("LookupError")


def test_a_running_task_progress_bar_moves_without_reloading(page, runtasks, wait_for, screenshot):
    from playwright.sync_api import expect

    _history()
    result = tasks.progress.delay(12, 0.3)
    runtasks("-c", "2")
    wait_for(lambda: result.state == "PROGRESS", 30)

    page.goto(change_url(result.id))
    page.evaluate("window.__notReloaded = true")
    bar = page.locator("#dt-live .dt-progress")
    expect(bar).to_be_visible()
    first = float(bar.get_attribute("aria-valuenow"))
    page.wait_for_function(
        "first => Number(document.querySelector('#dt-live .dt-progress')"
        ".getAttribute('aria-valuenow')) >= first + 15",
        arg=first,
    )
    assert page.evaluate("window.__notReloaded === true")
    # The bar is drawn as wide as it says (its width eases in), and the meta follows.
    page.wait_for_function(
        """() => {
            const bar = document.querySelector('#dt-live .dt-progress');
            const fill = bar.querySelector('.dt-progress-bar');
            const percent = Number(bar.getAttribute('aria-valuenow'));
            return Math.abs(100 * fill.offsetWidth / bar.offsetWidth - percent) < 1.5;
        }"""
    )
    expect(page.locator(".dt-live-meta")).not_to_contain_text('"current": 0,')
    screenshot(page, "task-progress")

    page.goto(reverse(DASHBOARD))
    current = page.locator("#dt-workers .dt-current", has_text="tests.tasks.progress")
    expect(current).to_be_visible()
    expect(current.locator(".dt-progress")).to_be_visible()
    screenshot(page, "dashboard")

    page.goto(change_url(result.id))
    expect(page.locator(".dt-live-state .dt-badge")).to_have_text(states.SUCCESS, timeout=30_000)
    expect(page.locator(".field-result_json pre")).to_have_text("12")

    page.goto(f"{reverse(CHANGELIST)}?state=SUCCESS")
    expect(page.locator("#result_list")).to_contain_text("tests.tasks.progress")
    page.goto(reverse(CHANGELIST))
    screenshot(page, "task-list")


def _history() -> None:
    """Recent finished tasks, so the dashboard's throughput and failures have something."""
    rng = random.Random(6)  # noqa: S311 - seeded: the same screenshot every run
    now = timezone.now()
    names = ["tests.tasks.add", "testproject.blog.tasks.spam_filter", "tests.tasks.say"]
    errors = [
        ("builtins.ValueError", "invalid literal for int() with base 10: 'x'"),
        ("testproject.blog.tasks.NetworkError", "Error making request to Akismet."),
        ("django_tasks.exceptions.TimeLimitExceeded", "TimeLimitExceeded(30)"),
    ]
    rows = []
    for minute in range(15):
        for _ in range(rng.randint(4, 30)):
            done = now - timedelta(minutes=minute, seconds=rng.uniform(0, 59))
            failed = rng.random() < 0.08
            exc_type, exc_message = rng.choice(errors) if failed else ("", "")
            rows.append(
                TaskMessage(
                    id=str(uuid.uuid4()),
                    name=rng.choice(names),
                    queue=rng.choice(["default", "default", "mail"]),
                    state=states.FAILURE if failed else states.SUCCESS,
                    args=[1, 2],
                    created_at=done - timedelta(seconds=1),
                    run_at=done - timedelta(seconds=1),
                    started_at=done - timedelta(milliseconds=40),
                    done_at=done,
                    worker="web1.1",
                    exc_type=exc_type,
                    exc_message=exc_message,
                    result=None if failed else 3,
                )
            )
    TaskMessage.objects.bulk_create(rows)
    for _ in range(3):
        TaskMessageFactory(
            name="tests.tasks.add",
            queue="mail",
            eta=now + timedelta(hours=1),
            run_at=now + timedelta(hours=1),
        )
    flaky = TaskMessageFactory(
        name="tests.tasks.flaky",
        state=states.RETRY,
        retries=1,
        max_retries=3,
        run_at=now + timedelta(minutes=5),
    )
    TaskAttemptFactory(
        task=flaky, exc_type="builtins.ConnectionError", exc_message="attempt 0", state=states.RETRY
    )
