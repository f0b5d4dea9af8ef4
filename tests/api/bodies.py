"""Task bodies of the API tests that are not the guide's (names are tests.api.bodies.<fn>)."""

from __future__ import annotations

import os
import time

from django_tasks import Task, app, get_task_logger
from tests.api.guide.classes import DatabaseTask
from tests.api.guide.stubs import Database, note, process_row
from tests.tasks import add

logger = get_task_logger(__name__)


# -- request context ---------------------------------------------------------------------------


@app.task(bind=True)
def context_all(self, *args, **kwargs):
    """Return every field of ``self.request`` (as JSON)."""
    r = self.request
    return {
        "id": r.id,
        "task": r.task,
        "args": list(r.args),
        "kwargs": r.kwargs,
        "retries": r.retries,
        "is_eager": r.is_eager,
        "eta": r.eta.isoformat() if r.eta else None,
        "expires": r.expires.isoformat() if r.expires else None,
        "hostname": r.hostname,
        "delivery_info": r.delivery_info,
        "called_directly": r.called_directly,
        "callbacks": r.callbacks,
        "errback": r.errback,
        "errbacks": r.errbacks,
        "headers": r.headers,
        "group": r.group,
        "chain": r.chain,
        "parent_id": r.parent_id,
        "root_id": r.root_id,
        "timelimit": list(r.timelimit),
        "correlation_id": r.correlation_id,
        "utc": r.utc,
        "reply_to": r.reply_to,
        "chord": r.chord,
        "pid": os.getpid(),
    }


# -- handlers ----------------------------------------------------------------------------------

#: (handler, args...) of every handler call in this process, in order.
CALLS: list[tuple] = []


class Recording(Task):
    """Records each handler call (in CALLS, and in the Execution table for workers)."""

    abstract = True

    def _record(self, handler, task_id, *details):
        CALLS.append((handler, task_id, *details))
        note(f"{task_id}:{len(CALLS)}:{handler}")

    def on_success(self, retval, task_id, args, kwargs):
        self._record("on_success", task_id, retval, args, kwargs)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        self._record("on_failure", task_id, exc, args, kwargs, einfo)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        self._record("on_retry", task_id, exc, args, kwargs, einfo)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        self._record("after_return", task_id, status, retval, args, kwargs, einfo)


@app.task(base=Recording, bind=True, max_retries=1, default_retry_delay=0)
def recorded(self, outcome, *args, **kwargs):
    """Succeed, fail or retry once (then succeed), as `outcome` says."""
    if outcome == "fail":
        raise ValueError("recorded failure")
    if outcome == "retry" and not self.request.retries:
        raise self.retry(exc=ConnectionError("recorded retry"), countdown=0)
    return outcome


class BrokenHandlers(Task):
    abstract = True

    def on_success(self, retval, task_id, args, kwargs):
        raise RuntimeError("on_success is broken")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        raise RuntimeError("on_failure is broken")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        raise RuntimeError("after_return is broken")


@app.task(base=BrokenHandlers)
def broken_handlers(fail=False):
    if fail:
        raise KeyError("the task's own error")
    return "the task's own result"


class CustomCall(Task):
    """A base class overriding ``__call__`` (the worker must go through it)."""

    abstract = True

    def __call__(self, *args, **kwargs):
        return ["wrapped", super().__call__(*args, **kwargs)]


@app.task(base=CustomCall, bind=True)
def custom_call(self, x):
    return [x, self.request.called_directly]


# -- one instance per process ------------------------------------------------------------------


@app.task(base=DatabaseTask)
def db_probe():
    """The guide's DatabaseTask: which connection object, how many opened, in which process."""
    for row in db_probe.db.table.all():
        process_row(row)
    return [id(db_probe.db), Database.connections, os.getpid()]


# -- options -----------------------------------------------------------------------------------


@app.task(ignore_result=True)
def ignored_result():
    return 42


@app.task(ignore_result=True, store_errors_even_if_ignored=True)
def ignored_result_errors_kept():
    raise ValueError("kept")


@app.task(ignore_result=True)
def ignored_result_errors_dropped():
    raise ValueError("dropped")


@app.task(track_started=True)
def tracked(seconds):
    time.sleep(seconds)
    return seconds


@app.task(send_error_emails=True)
def mailing(x, y=None):
    raise ValueError(f"mail about {x}")


@app.task(send_error_emails=True, throws=(KeyError,))
def expected_error():
    raise KeyError("expected")


@app.task(queue="other")
def on_other_queue():
    return "other"


@app.task(priority=9)
def urgent(key):
    note(key)


@app.task
def ordinary(key):
    note(key)


@app.task(expires=0.01)
def short_lived():
    note("short-lived ran")


@app.task(acks_late=True)
def late():
    return "late"


@app.task(typing=False)
def untyped(x, y):
    return x + y


@app.task(autoretry_for=(ConnectionError,), retry_backoff=4, retry_jitter=False, max_retries=2)
def backoff_fixed(key):
    raise ConnectionError(key)


@app.task(
    autoretry_for=(ConnectionError,), retry_backoff=60, retry_backoff_max=3, retry_jitter=False
)
def backoff_capped():
    raise ConnectionError("capped")


@app.task(autoretry_for=(ConnectionError,), retry_backoff=True)
def backoff_jitter():
    raise ConnectionError("jitter")


@app.task(autoretry_for=(ConnectionError,), retry_kwargs={"max_retries": 2, "countdown": 0})
def auto_until(failures, key):
    """Fail with ConnectionError `failures` times (counted in the Execution table)."""
    from tests.models import Execution

    done = Execution.objects.filter(key__startswith=f"{key}:").count()
    note(f"{key}:{done}")
    if done < failures:
        raise ConnectionError(f"attempt {done}")
    return done


# -- retry -------------------------------------------------------------------------------------


@app.task(bind=True, default_retry_delay=30)
def retry_later(self):
    """Retry with the default delay (30 s here): the RETRY state waits, visible."""
    try:
        raise ConnectionError("later, please")
    except ConnectionError as exc:
        raise self.retry(exc=exc)  # noqa: B904 - Celery's idiom: Retry is not an error


@app.task(bind=True)
def retry_elsewhere(self):
    """Retry once on queue 'other' at priority 7, then succeed there."""
    if not self.request.retries:
        raise self.retry(exc=ConnectionError("move"), countdown=0, queue="other", priority=7)
    return self.request.delivery_info


@app.task(bind=True, max_retries=None)
def retry_forever(self, until):
    if self.request.retries < until:
        raise self.retry(countdown=0)
    return self.request.retries


@app.task(bind=True, max_retries=2)
def retry_limited(self):
    try:
        raise ConnectionError(f"attempt {self.request.retries}")
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=0)  # noqa: B904 - Celery's idiom


@app.task(bind=True, max_retries=1)
def retry_without_exc(self):
    raise self.retry(countdown=0)


@app.task(bind=True, max_retries=5)
def retry_override_limit(self):
    """retry(max_retries=1) overrides the task's 5."""
    raise self.retry(exc=ConnectionError("short"), countdown=0, max_retries=1)


@app.task(bind=True)
def retry_not_thrown(self):
    """throw=False: the body goes on; the task is retried (once) when it returns."""
    if not self.request.retries:
        self.retry(countdown=0, throw=False)
        note(f"{self.request.id}:went on")
        return "dropped"
    return "second"


@app.task(bind=True)
def retry_new_args(self, n):
    if n < 3:
        raise self.retry(args=(n + 1,), countdown=0)
    return n


# -- exceptions --------------------------------------------------------------------------------


@app.task
def raise_local():
    class LocalError(Exception):
        pass

    raise LocalError("defined in a function")


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")

    def __repr__(self):
        raise RuntimeError("no repr either")


@app.task
def raise_unprintable():
    raise Unprintable()


@app.task
def raise_unencodable():
    raise ValueError(object())


class NeedsKeyword(Exception):
    def __init__(self, *, code):
        self.code = code
        super().__init__(f"code {code}")


@app.task
def raise_keyword_only():
    raise NeedsKeyword(code=7)


@app.task
def return_object():
    return object()


# -- canvas ------------------------------------------------------------------------------------


@app.task
def record_error(task_id):
    """An errback: Celery 3.1 calls it with the failed task's id."""
    note(f"errback:{task_id}")
    return task_id


@app.task
def collect(value, key):
    note(f"{key}:{value}")
    return value


@app.task
def wait_for_subtask():
    return add.delay(1, 1).get(timeout=10)


@app.task
def wait_for_subtask_allowed():
    return add.delay(2, 2).get(timeout=30, disable_sync_subtasks=False)


# -- logging -----------------------------------------------------------------------------------


@app.task(bind=True)
def log_and_print(self, text):
    logger.warning("logged %s", text)
    print(f"printed {text}")  # noqa: T201 - what REDIRECT_STDOUTS sends to the log
    return text


@app.task(bind=True)
def progress_then_ignore(self):
    from django_tasks.exceptions import Ignore

    self.update_state(state="PROGRESS", meta={"current": 1, "total": 2})
    raise Ignore()


@app.task(bind=True)
def send_child(self):
    """Send a task from inside this one: the child's parent is this task."""
    return context_all.delay().id
