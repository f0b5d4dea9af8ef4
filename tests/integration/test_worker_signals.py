"""
Celery's worker, task and logging signals as a real runtasks sends them.

The receivers live in tests/signal_receivers.py (decorator form, imported by the worker
through DJANGO_TASKS["IMPORTS"]); each appends what it received to a JSON-lines file.
"""

import json
import signal

import pytest

from django_tasks import states
from tests import tasks
from tests.factories import TaskMessageFactory
from tests.signal_receivers import MARKER

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "sigtest"


@pytest.fixture
def signal_log(tmp_path):
    path = tmp_path / "signals.jsonl"
    path.touch()

    def read() -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    read.env = {"TESTS_SIGNAL_LOG": str(path)}
    return read


def _names(records, pid=None, skip=()):
    return [
        r["signal"] for r in records if (pid is None or r["pid"] == pid) and r["signal"] not in skip
    ]


def _one(records, name) -> dict:
    found = [r for r in records if r["signal"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def test_prefork_worker_sends_each_worker_signal_once_in_celerys_order(
    runtasks, signal_log, wait_for
):
    result = tasks.add.delay(2, 2)
    worker = runtasks("-c", "1", "-n", HOST, "-l", "info", env=signal_log.env)
    wait_for(lambda: result.state == states.SUCCESS, 30)
    wait_for(lambda: "heartbeat_sent" in _names(signal_log()), 30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0

    records = signal_log()
    supervisor = worker.pid
    (child,) = {r["pid"] for r in records} - {supervisor}
    assert _names(records, supervisor, skip={"heartbeat_sent"}) == [
        "celeryd_init",
        "worker_init",
        "after_setup_logger",
        "after_setup_task_logger",
        "celeryd_after_setup",
        "beat_init",
        "beat_embedded_init",
        "worker_before_create_process",
        "worker_ready",
        "worker_shutting_down",
        "worker_shutdown",
    ]
    assert _names(records, child) == [
        "worker_process_init",
        "task_received",
        "task_prerun",
        "task_success",
        "task_postrun",
        "worker_process_shutdown",
    ]
    ready = _names(records, supervisor).index("worker_ready")
    assert "heartbeat_sent" in _names(records, supervisor)[ready:]


def test_worker_signals_carry_celerys_argument_names(runtasks, signal_log, wait_for):
    result = tasks.add.delay(2, 2)
    worker = runtasks("-c", "1", "-n", HOST, "-l", "info", env=signal_log.env)
    wait_for(lambda: result.state == states.SUCCESS, 30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    records = signal_log()
    child = next(r["pid"] for r in records if r["signal"] == "worker_process_init")

    init = _one(records, "celeryd_init")
    assert init["arguments"] == ["conf", "instance", "options", "sender", "signal"]
    assert init["sender"] == HOST
    assert init["values"]["instance"] == "Supervisor"
    assert {"concurrency", "queues", "pool", "hostname", "loglevel"} <= set(
        init["values"]["options"]
    )
    setup = _one(records, "celeryd_after_setup")
    assert setup["arguments"] == ["conf", "instance", "sender", "signal"]
    assert setup["sender"] == HOST
    for name in ("worker_init", "worker_ready", "worker_shutdown"):
        assert _one(records, name)["arguments"] == ["sender", "signal"]
        assert _one(records, name)["sender"] == "Supervisor"
    assert _one(records, "worker_process_init")["arguments"] == ["sender", "signal"]
    assert _one(records, "worker_process_init")["sender"] is None

    shutting = _one(records, "worker_shutting_down")
    assert shutting["arguments"] == ["exitcode", "how", "sender", "sig", "signal"]
    assert shutting["sender"] == HOST
    assert shutting["values"] == {"sig": "SIGTERM", "how": "Warm", "exitcode": 0}

    exited = _one(records, "worker_process_shutdown")
    assert exited["arguments"] == ["exitcode", "pid", "sender", "signal"]
    assert exited["values"] == {"pid": child, "exitcode": 0}

    for name, logger in (
        ("after_setup_logger", "django_tasks"),
        ("after_setup_task_logger", "django_tasks.task"),
    ):
        logged = _one(records, name)
        assert logged["arguments"] == [
            "colorize",
            "format",
            "logfile",
            "logger",
            "loglevel",
            "sender",
            "signal",
        ]
        assert logged["values"]["logger"] == logger
        assert logged["values"]["loglevel"] == 20  # -l info

    received = _one(records, "task_received")
    assert received["arguments"] == ["request", "sender", "signal"]
    assert received["sender"] == "Consumer"
    assert received["values"]["request"] == {
        "request_id": result.id,
        "request_task": "tests.tasks.add",
    }


def test_task_received_is_sent_once_per_claimed_message(runtasks, signal_log):
    results = [tasks.add.delay(i, i) for i in range(3)]
    worker = runtasks("--burst", "-c", "1", env=signal_log.env)
    assert worker.wait(timeout=60) == 0
    received = [
        r["values"]["request"]["request_id"] for r in signal_log() if r["signal"] == "task_received"
    ]
    assert sorted(received) == sorted(r.id for r in results)


def test_threads_pool_sends_worker_process_init_once_in_its_own_process(runtasks, signal_log):
    tasks.add.delay(1, 1)
    worker = runtasks("--burst", "-P", "threads", "-c", "2", env=signal_log.env)
    assert worker.wait(timeout=60) == 0
    records = signal_log()
    assert {r["pid"] for r in records} == {worker.pid}
    assert _names(records).count("worker_process_init") == 1
    assert _names(records).count("worker_process_shutdown") == 1
    assert "worker_before_create_process" not in _names(records)
    assert _names(records).count("worker_ready") == 1


def test_connected_setup_logging_leaves_logging_to_the_receiver(runtasks, signal_log):
    result = tasks.say.delay("printed-by-the-task")
    env = {**signal_log.env, "TESTS_SIGNAL_SETUP_LOGGING": "1"}
    worker = runtasks("--burst", "-c", "1", "-l", "debug", env=env)
    assert worker.wait(timeout=60) == 0
    assert result.state == states.SUCCESS
    output = worker.output()
    records = signal_log()

    handled = _one(records, "setup_logging")
    assert handled["arguments"] == ["colorize", "format", "logfile", "loglevel", "sender", "signal"]
    assert handled["values"]["loglevel"] == 10  # -l debug, passed on to the receiver
    # The worker configured nothing after it: the receiver's format, the receiver's level
    # (INFO, though -l debug asked for DEBUG), no after_setup_* signals.
    assert f"{MARKER} INFO task id={result.id} name=tests.tasks.say state=SUCCESS" in output
    assert "claim worker=" not in output
    assert "after_setup_logger" not in _names(records)
    assert "after_setup_task_logger" not in _names(records)
    # ...nor redirected stdout: the print is a plain line, not a log record.
    assert "\nprinted-by-the-task\n" in output
    assert f"{MARKER} WARNING printed-by-the-task" not in output


def test_without_setup_logging_the_worker_applies_its_level(runtasks, signal_log):
    tasks.say.delay("printed-by-the-task")
    worker = runtasks("--burst", "-c", "1", "-l", "debug", env=signal_log.env)
    assert worker.wait(timeout=60) == 0
    output = worker.output()
    assert "claim worker=" in output  # DEBUG, from -l debug
    assert MARKER not in output
    assert "printed-by-the-task" in output
    assert "\nprinted-by-the-task\n" not in output  # redirected: it is a log record


def test_failure_around_the_body_sends_task_internal_error_and_ends_failure(runtasks, signal_log):
    # A soft time limit past what the platform's timer holds breaks the worker's set-up of
    # the limit, around the body (a limit that is not a number is a DecodeError instead).
    row = TaskMessageFactory(options={"soft_time_limit": 1e300})
    after = tasks.add.delay(3, 4)
    worker = runtasks("--burst", "-c", "1", env=signal_log.env)
    assert worker.wait(timeout=60) == 0

    record = _one(signal_log(), "task_internal_error")
    assert record["arguments"] == [
        "args",
        "einfo",
        "exception",
        "kwargs",
        "request",
        "sender",
        "signal",
        "task_id",
        "traceback",
    ]
    assert record["sender"] == "task:tests.tasks.add"
    assert record["values"]["task_id"] == row.id
    assert record["values"]["exception"] == "OverflowError"
    row.refresh_from_db()
    assert row.state == states.FAILURE
    assert "OverflowError" in row.exc_type
    assert after.get(timeout=1) == 7  # the worker went on


def test_undecodable_message_sends_task_rejected(runtasks, signal_log):
    row = TaskMessageFactory(kwargs=[3, 4])
    worker = runtasks("--burst", "-c", "1", env=signal_log.env)
    assert worker.wait(timeout=60) == 0

    record = _one(signal_log(), "task_rejected")
    assert record["arguments"] == ["exc", "message", "sender", "signal"]
    assert record["sender"] == "Consumer"
    assert record["values"]["exc"] == "DecodeError"
    assert record["values"]["message"] == "Message"
    row.refresh_from_db()
    assert row.state == states.FAILURE


def test_expired_and_unknown_tasks_send_task_revoked_and_task_unknown(runtasks, signal_log):
    from datetime import timedelta

    from django.utils import timezone

    from django_tasks import app

    expired = tasks.add.apply_async((1, 1), expires=timezone.now() - timedelta(seconds=5))
    unknown = app.send_task("nowhere.task", (1,))
    worker = runtasks("--burst", "-c", "1", env=signal_log.env)
    assert worker.wait(timeout=60) == 0

    revoked = _one(signal_log(), "task_revoked")
    assert revoked["arguments"] == [
        "expired",
        "request",
        "sender",
        "signal",
        "signum",
        "terminated",
    ]
    assert revoked["sender"] == "task:tests.tasks.add"
    assert revoked["values"]["request"] == {
        "request_id": expired.id,
        "request_task": "tests.tasks.add",
    }
    assert revoked["values"]["expired"] is True and revoked["values"]["terminated"] is False
    missing = _one(signal_log(), "task_unknown")
    assert missing["arguments"] == ["exc", "id", "message", "name", "sender", "signal"]
    assert missing["values"]["id"] == unknown.id and missing["values"]["name"] == "nowhere.task"
    assert missing["values"]["exc"] == "NotRegistered"
