"""
The console beside very large rows (issue 17): 20 results of 20 MB each once made a 44 KB
task list take 832 MiB. A page loads the columns it shows, and only as much of a long
text as it shows: its peak memory stays far below the rows' size. Time is not asserted.
"""

from __future__ import annotations

import tracemalloc

import pytest
from django.urls import reverse

from django_tasks import states
from tests.admin.conftest import CHANGELIST, DASHBOARD, change_url
from tests.factories import TaskAttemptFactory, TaskMessageFactory

# A 20 MB row is more than MariaDB's default max_allowed_packet (16 MB) lets a client send.
pytestmark = [pytest.mark.sqlite, pytest.mark.postgresql, pytest.mark.django_db]

BIG = 20 * 1024 * 1024
#: Peak Python memory a page may take beside 400 MB of results and 20 MB of tracebacks:
#: half of one big row (measured: list 1.7 MiB, dashboard 0.4, task page 2.0; before the
#: dashboard and the attempts read their texts in SQL, 40 and 121 MiB).
PAGE_PEAK = 10 * 1024 * 1024


@pytest.fixture
def big_rows():
    """20 finished tasks with 20 MB results, a running one with a 20 MB progress meta,
    a 20 MB failure, and a small task with 20 attempts of 1 MB tracebacks."""
    for _ in range(20):
        TaskMessageFactory(state=states.SUCCESS, result="x" * BIG, args=["y" * 1024] * 1024)
    TaskMessageFactory(
        state="PROGRESS", worker="host.1", result={"current": 1, "total": 2, "pad": "x" * BIG}
    )
    TaskMessageFactory(
        state=states.FAILURE,
        exc_type="builtins.ValueError",
        exc_message="e" * BIG,
        traceback="t" * BIG,
    )
    small = TaskMessageFactory(state=states.FAILURE, exc_type="builtins.ValueError")
    for n in range(1, 21):
        TaskAttemptFactory(task=small, number=n, exc_message="m" * 1024, traceback="t" * 2**20)
    return small


def _peak(client, url: str) -> tuple[int, int]:
    tracemalloc.start()
    try:
        response = client.get(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, url
    return peak, len(response.content)


@pytest.mark.parametrize("page", ["list", "dashboard", "task"])
def test_a_page_beside_twenty_megabyte_rows_stays_small(page, admin_client, big_rows):
    url = {
        "list": reverse(CHANGELIST),
        "dashboard": reverse(DASHBOARD),
        "task": change_url(big_rows.id),
    }[page]
    peak, size = _peak(admin_client, url)
    print(f"{page}: peak {peak / 2**20:.1f} MiB, page {size / 1024:.0f} KB")  # noqa: T201
    assert peak < PAGE_PEAK, f"{page}: {peak / 2**20:.1f} MiB"


def test_the_dashboard_reads_a_large_metas_progress_in_sql(admin_client, big_rows):
    response = admin_client.get(reverse(DASHBOARD))
    assert 'aria-valuenow="50.0"' in response.content.decode()


def test_the_attempts_table_shows_a_long_tracebacks_end_and_says_so(admin_client, big_rows):
    page = admin_client.get(change_url(big_rows.id)).content.decode()
    assert "(its last 10000 of 1048576 characters)" in page
    assert page.count('<tr class="dt-attempt">') == 20


def test_the_attempts_table_shows_the_newest_fifty_and_counts_the_rest(admin_client):
    task = TaskMessageFactory(state=states.FAILURE, exc_type="builtins.ValueError")
    for n in range(1, 56):
        TaskAttemptFactory(task=task, number=n, exc_message=f"boom {n}")
    page = admin_client.get(change_url(task.id)).content.decode()
    assert "5 earlier attempts not shown." in page
    assert page.count('<tr class="dt-attempt">') == 50
    assert "boom 6" in page and "boom 55" in page and "boom 5<" not in page
