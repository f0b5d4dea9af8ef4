"""
Bad values at ``delay()`` (issue 18 items 5 and 6): an error naming the task and the
argument before anything is written, raised at the call even inside ``atomic()``.
"""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from django_tasks import states
from django_tasks.exceptions import EncodeError
from django_tasks.models import TaskMessage
from tests import tasks
from tests.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True)]


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


BAD_ARGUMENTS = {
    "nan": float("nan"),
    "infinity": float("-inf"),
    "nul": "a\x00b",
    "surrogate": "a\ud800b",
    "nesting": _nested(10_000),
    "long int": 10**5000,
    "broken repr": BadRepr(),
}


@pytest.mark.parametrize("kind", list(BAD_ARGUMENTS))
def test_an_argument_no_database_stores_is_an_encode_error_naming_the_task(kind):
    with pytest.raises(EncodeError, match=re.escape("Task 'tests.tasks.add' argument 'x'")):
        tasks.add.delay(BAD_ARGUMENTS[kind], 1)
    assert not TaskMessage.objects.exists()


@pytest.mark.parametrize("kind", ["nan", "nul", "surrogate"])
def test_inside_atomic_the_error_is_raised_at_the_call_and_nothing_is_committed(kind):
    expected = re.escape("Task 'tests.tasks.add' argument 'y'")
    with pytest.raises(EncodeError, match=expected), transaction.atomic():
        Execution.objects.create(key="view data")
        tasks.add.delay(1, BAD_ARGUMENTS[kind])
    assert not Execution.objects.exists()
    assert not TaskMessage.objects.exists()


def test_bytes_holding_nul_travel_as_base64_and_round_trip(runtasks):
    result = tasks.type_names.delay(b"a\x00b")
    worker = runtasks("--burst")
    assert worker.wait(timeout=40) == 0
    assert TaskMessage.objects.get(id=result.id).state == states.SUCCESS


@pytest.mark.parametrize("task_id", ["x" * 65, "a\x00b", "a\ud800b", " padded ", 42])
def test_a_task_id_the_table_cannot_store_is_refused_at_apply_async(task_id):
    with pytest.raises(ValueError, match=re.escape("Task 'tests.tasks.add': task_id must be")):
        tasks.add.apply_async((1, 1), task_id=task_id)
    assert not TaskMessage.objects.exists()


def test_a_non_ascii_task_id_of_64_characters_is_timed_out_and_terminated(runtasks, wait_for):
    # 64 characters, 128 bytes in UTF-8: more than the slot held before.
    task_id = "é" * 64
    slow = tasks.sleep_for.apply_async((30,), task_id=task_id, time_limit=1)
    after = tasks.add.delay(1, 1)
    worker = runtasks("-c", "1")
    wait_for(lambda: TaskMessage.objects.get(id=after.id).state == states.SUCCESS, 30)
    row = TaskMessage.objects.get(id=slow.id)
    assert row.state == states.FAILURE, worker.output()
    assert row.exc_type == "django_tasks.exceptions.TimeLimitExceeded"
    assert worker.poll() is None, worker.output()
    assert "UnicodeDecodeError" not in worker.output()


def test_a_header_no_database_stores_is_an_encode_error_at_the_call():
    expected = re.escape("Task 'tests.tasks.add' options (headers, link, chain) are not JSON")
    with pytest.raises(EncodeError, match=expected):
        tasks.add.apply_async((1, 1), headers={"x": float("nan")})
    assert not TaskMessage.objects.exists()
