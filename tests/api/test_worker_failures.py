"""Failures in a real worker: stored exceptions, handlers, error e-mails, logs and print."""

import email
import re
from email.header import decode_header, make_header

import pytest

from django_tasks import states
from django_tasks.exceptions import EncodeError, TaskError
from django_tasks.models import TaskMessage
from tests import tasks
from tests.api import bodies
from tests.api.guide.stubs import noted

pytestmark = pytest.mark.django_db(transaction=True)


def test_failures_handlers_mails_and_logs_in_a_worker(burst, tmp_path):
    local = bodies.raise_local.delay()
    keyword = bodies.raise_keyword_only.delay()
    unprintable = bodies.raise_unprintable.delay()
    unencodable = bodies.raise_unencodable.delay()
    unreturnable = bodies.return_object.delay()
    ok, failed, retried = (bodies.recorded.delay(o) for o in ("ok", "fail", "retry"))
    broken_ok, broken_failed = bodies.broken_handlers.delay(), bodies.broken_handlers.delay(True)
    mailed, expected = bodies.mailing.delay("x", y=2), bodies.expected_error.delay()
    printed = bodies.log_and_print.delay("hi")
    called = bodies.custom_call.delay(5)
    probes = [bodies.db_probe.delay(), bodies.db_probe.delay()]
    after = tasks.add.delay(1, 2)
    out = burst(
        env={"EMAIL_FILE_PATH": str(tmp_path)}, extra={"REDIRECT_STDOUTS_LEVEL": "INFO"}
    ).output()

    # Exceptions: type path, args and traceback stored; rebuilt where possible, else a
    # TaskError with the type's name; none of them stops the worker.
    row = TaskMessage.objects.get(id=keyword.id)
    assert (row.state, row.exc_type, row.exc_message) == (
        states.FAILURE,
        "tests.api.bodies.NeedsKeyword",
        "code 7",
    )
    assert row.result == {"exc_type": "tests.api.bodies.NeedsKeyword", "exc_args": ["code 7"]}
    assert "raise NeedsKeyword(code=7)" in row.traceback
    for result, exc_type in (
        (local, "tests.api.bodies.raise_local.<locals>.LocalError"),
        (keyword, "tests.api.bodies.NeedsKeyword"),
    ):
        with pytest.raises(TaskError) as raised:
            result.get()
        assert raised.value.exc_type == exc_type
    with pytest.raises(bodies.Unprintable):
        unprintable.get()
    with pytest.raises(ValueError, match=re.escape("<object object at")):
        unencodable.get()
    with pytest.raises(
        EncodeError,
        match=re.escape("'tests.api.bodies.return_object' returned a value that is not JSON"),
    ):
        unreturnable.get()
    assert after.get() == 3

    # Handlers ran in the worker, in Celery's order (each note carries the position of the
    # call among all handler calls of its worker process).
    def handlers(task_id):
        keys = sorted(noted(f"{task_id}:"), key=lambda k: int(k.split(":")[1]))
        return [k.split(":")[-1] for k in keys]

    assert handlers(ok.id) == ["on_success", "after_return"]
    assert handlers(failed.id) == ["on_failure", "after_return"]
    assert handlers(retried.id) == ["on_retry", "on_success", "after_return"]
    # A broken handler is logged and the task keeps its own outcome.
    assert broken_ok.get() == "the task's own result"
    assert isinstance(broken_failed.result, KeyError)
    for handler in ("on_success", "on_failure", "after_return"):
        assert f"name=tests.api.bodies.broken_handlers handler={handler} failed" in out
    assert "RuntimeError: on_success is broken" in out

    # Error e-mail: one, for the unexpected error; the expected one is logged at INFO.
    (mail,) = [email.message_from_string(p.read_text()) for p in tmp_path.iterdir()]
    subject = " ".join(str(make_header(decode_header(mail["Subject"]))).split())
    assert subject.endswith(
        f"Error: Task tests.api.bodies.mailing ({mailed.id}): ValueError('mail about x')"
    )
    body = mail.get_payload(decode=True).decode()
    assert "Task was called with args: ['x'] kwargs: {'y': 2}." in body
    assert re.search(
        rf"INFO/\d+\] task id={expected.id} name=tests.api.bodies.expected_error "
        r"state=FAILURE worker=\S+ runtime=[\d.]+ exc=KeyError\('expected'\)\n\[",
        out,
    )

    # Task logger records carry name and id; print goes to the log at the chosen level.
    assert "WARNING/" in out
    assert f"tests.api.bodies.log_and_print[{printed.id}]: logged hi" in out
    assert re.search(r"INFO/\d+\] printed hi", out)

    # A custom __call__ wraps the body in the worker; one DatabaseTask instance per process.
    assert called.get() == ["wrapped", [5, False]]
    (first, second) = (p.get() for p in probes)
    assert first[0] == second[0] and first[2] == second[2] and second[1] == 1
