"""The console on a laptop screen (1366 and 1440 px wide): nothing hidden behind a scroll bar."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from django_tasks import states
from tests import tasks
from tests.admin.conftest import CHANGELIST
from tests.browser.test_console import _history
from tests.factories import TaskMessageFactory, WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: How much wider than its box a table may be (rounding), in CSS pixels.
SLACK = 2


def _overflow(page, selector: str) -> int:
    """How many pixels the table inside `selector` sticks out of its box (0: it fits)."""
    return page.evaluate(
        "(sel) => { const box = document.querySelector(sel);"
        " return box.scrollWidth - box.clientWidth; }",
        selector,
    )


@pytest.mark.parametrize("width", [1366, 1440])
def test_task_list_shows_every_column_without_scrolling(page, width, screenshot):
    _history()
    TaskMessageFactory(
        name="testproject.blog.tasks.spam_filter",
        state=states.STARTED,
        worker="web1.example.com.471123",
        started_at=timezone.now(),
    )
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(reverse(CHANGELIST))
    for column in ("started_short", "runtime_display", "worker"):
        assert page.locator(f"th.column-{column}").is_visible()
    screenshot(page, f"task-list-{width}")
    assert _overflow(page, "#changelist .results") <= SLACK


@pytest.mark.parametrize("width", [1366, 1440])
def test_workers_list_keeps_dates_on_one_line_and_shows_the_heartbeat(page, width, screenshot):
    for n in range(3):
        WorkerFactory(name=f"web{n}.example.com.{4700 + n}", queues=["default", "mail"])
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(reverse("admin:django_tasks_worker_changelist"))
    screenshot(page, f"workers-{width}")
    assert _overflow(page, "#changelist .results") <= SLACK
    row = page.locator("#result_list tbody tr").first
    line = page.evaluate("() => parseFloat(getComputedStyle(document.body).lineHeight) || 18")
    # One line of text per row (padding aside): no date wrapped onto three lines.
    assert row.bounding_box()["height"] < 2.5 * line
    assert "heartbeat" in page.locator("#result_list thead").inner_text().lower()


def test_task_list_refreshes_itself_until_its_tasks_finish(page, runtasks, wait_for):
    from playwright.sync_api import expect

    result = tasks.sleep_for.delay(2)
    page.goto(reverse(CHANGELIST))
    badge = page.locator(f'#result_list tr:has(span[title="{result.id}"]) .dt-badge')
    expect(badge).to_have_text(states.PENDING)
    runtasks("--concurrency", "1")
    # No click, no reload by hand: the list reloads while its task waits or runs.
    expect(badge).to_have_text(states.SUCCESS, timeout=40_000)
    expect(page.locator("#dt-list-live")).to_have_count(0)
