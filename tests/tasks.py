"""Every task body the tests use, at module level (names are tests.tasks.<function>)."""

from __future__ import annotations

import os
import time

from django.db import connection

from django_tasks import app, get_task_logger
from django_tasks.exceptions import Ignore, Reject
from tests.models import insert_key

logger = get_task_logger(__name__)


@app.task
def add(x, y):
    return x + y


@app.task
def noop():
    return None


@app.task
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task
def fail(message: str = "boom"):
    raise ValueError(message)


@app.task(bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, failures: int):
    """Fail `failures` times, then return the number of retries it took."""
    if self.request.retries < failures:
        raise self.retry(exc=ConnectionError(f"attempt {self.request.retries}"), countdown=0)
    return self.request.retries


@app.task(bind=True)
def context(self, *args, **kwargs):
    r = self.request
    return {
        "id": r.id,
        "task": r.task,
        "args": list(r.args),
        "kwargs": r.kwargs,
        "retries": r.retries,
        "is_eager": r.is_eager,
        "hostname": r.hostname,
        "delivery_info": r.delivery_info,
        "called_directly": r.called_directly,
        "eta": r.eta.isoformat() if r.eta else None,
        "pid": os.getpid(),
    }


@app.task(bind=True)
def progress(self, steps: int, delay: float = 0.2):
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"current": i, "total": steps})
        time.sleep(delay)
    return steps


@app.task(bind=True)
def ignore_me(self):
    raise Ignore()


@app.task(bind=True, acks_late=True)
def reject_me(self, requeue: bool = False):
    raise Reject("no thanks", requeue=requeue)


@app.task
def record(key: str, seconds: float = 0.0) -> str:
    """Insert `key` into tests_execution: a unique key proves no task runs twice."""
    time.sleep(seconds)
    insert_key("tests_execution", key)
    return key


@app.task(acks_late=True)
def record_late(key: str, seconds: float = 0.0) -> str:
    """An idempotent acks_late body (as acks_late bodies must be): runs are counted apart."""
    insert_key("tests_start", key)
    time.sleep(seconds)
    insert_key("tests_execution", key, ignore_duplicate=True)
    return key


@app.task
def record_slow(key: str, seconds: float = 0.0) -> str:
    """Record the start, sleep, then record the finish (acks early)."""
    insert_key("tests_start", key)
    time.sleep(seconds)
    insert_key("tests_execution", key)
    return key


@app.task(soft_time_limit=0.5)
def soft_limited(seconds: float) -> str:
    from django_tasks.exceptions import SoftTimeLimitExceeded

    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "finished"


@app.task
def crash():
    os._exit(13)


@app.task
def say(text: str) -> str:
    print(text)  # noqa: T201 - the REDIRECT_STDOUTS tests need a task that prints
    return text


@app.task
def needs_row(key: str) -> str:
    """Fail until a tests_execution row `key` exists (the admin's requeue scenario)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM tests_execution WHERE {connection.ops.quote_name('key')} = %s", [key]
        )
        if cursor.fetchone() is None:
            raise LookupError(f"no tests_execution row {key!r} yet")
    return key


@app.task(rate_limit="5/s")
def limited() -> float:
    return time.time()


@app.task
def stamp() -> float:
    return time.time()


@app.task
def type_names(*args, **kwargs) -> dict:
    """The type names of the arguments as the body got them, and the arguments themselves."""
    return {
        "args": [type(a).__name__ for a in args],
        "kwargs": {k: type(v).__name__ for k, v in kwargs.items()},
        "values": [list(args), kwargs],
    }


class Widget:
    """An object JSON cannot hold (as a model instance is not either)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Widget {self.name}>"


class WidgetError(Exception):
    """Raised with a Widget: its message is the Widget's repr."""


class WidgetNameError(Exception):
    """Its message reads an attribute of the Widget it was given."""

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        super().__init__(widget)

    def __str__(self) -> str:
        return f"widget {self.widget.name} is broken"


@app.task
def raise_with_object(kind: str, name: str) -> None:
    """Raise an exception whose argument is not JSON: a Widget, or a model instance."""
    from tests.models import Execution

    if kind == "widget":
        raise WidgetError(Widget(name))
    if kind == "attribute":
        raise WidgetNameError(Widget(name))
    raise LookupError(Execution(key=name), "and a JSON argument")


@app.task(bind=True, max_retries=1)
def retry_with_a_later_date(self, when):
    """Retry once with new arguments (a day later); return what the second attempt got."""
    from datetime import timedelta

    if self.request.retries == 0:
        raise self.retry(args=(when + timedelta(days=1),), countdown=0)
    return [type(when).__name__, when]


# -- bad data (tests/hardening) ------------------------------------------------------------

#: Values no database column can store, by the name a test passes.
BAD_VALUES = {
    "nan": float("nan"),
    "inf": float("inf"),
    "nul": "a\x00b",
    "surrogate": "a\ud800b",
}


@app.task
def return_bad(kind: str):
    """Return a value JSON or the database cannot store."""
    return BAD_VALUES[kind]


@app.task
def raise_bad(kind: str):
    """Raise an exception whose argument (and message) JSON or the database cannot store."""
    raise ValueError(BAD_VALUES[kind])


@app.task
def leave_transaction_open() -> str:
    """Open a transaction and return without closing it."""
    from django.db import transaction

    transaction.atomic().__enter__()
    connection.cursor().execute("SELECT 1")
    return "left open"


@app.task
def exit_task(kind: str):
    """Raise SystemExit or KeyboardInterrupt from the body."""
    if kind == "exit":
        raise SystemExit(3)
    raise KeyboardInterrupt()


@app.task
def tsum(numbers: list, key: str = "") -> int:
    """A chord callback: the sum of its header's results; `key` (unique) proves one run."""
    if key:
        insert_key("tests_execution", key)
    return sum(numbers)


@app.task(acks_late=True)
def square_late(x: int, seconds: float = 0.0) -> int:
    """An acks_late chord member: redelivered when its worker dies."""
    time.sleep(seconds)
    return x * x


@app.task(ignore_result=True)
def double_ignored(x: int) -> int:
    return 2 * x


@app.task(bind=True)
def chord_of(self, x: int) -> dict:
    """What a header member sees of its chord."""
    return {"x": x, "chord": (self.request.chord or {}).get("task"), "group": self.request.group}


@app.task(bind=True)
def record_tick(self):
    """Record the periodic tick that sent this task: a second run of one tick fails here."""
    from tests.models import Execution

    headers = self.request.headers or {}
    Execution.objects.create(key=f"{headers['periodic_task_name']}@{headers['periodic_tick']}")
