"""
Receivers of every signal, written as a project would (``@signal.connect``), for the worker tests.

``runtasks`` imports this module through ``DJANGO_TASKS["IMPORTS"]`` when
``TESTS_SIGNAL_LOG`` names a file (see tests/settings.py); each receiver appends one JSON
line there: the signal, the process, the argument names and the values the tests check.
With ``TESTS_SIGNAL_SETUP_LOGGING`` set, a ``setup_logging`` receiver takes logging over.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from django_tasks import Task, signals

LOG = os.environ.get("TESTS_SIGNAL_LOG", "")
#: What the setup_logging receiver's handler writes before every record.
MARKER = "SIGNALS-TEST-LOGGING"


def _describe(value):
    """A JSON-friendly view of the values the tests look at."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, logging.Logger):
        return value.name
    if isinstance(value, Task):
        return f"task:{value.name}"
    if hasattr(value, "id") and hasattr(value, "task") and hasattr(value, "delivery_info"):
        return {"request_id": value.id, "request_task": value.task}
    return type(value).__name__


def record(signal, sender, **kwargs) -> None:
    if not LOG:  # imported by the pytest process itself (for MARKER): nothing to record
        return
    line = {
        "signal": signal.name,
        "pid": os.getpid(),
        "sender": _describe(sender),
        "arguments": sorted(["signal", "sender", *kwargs]),
        "values": {k: _describe(v) for k, v in kwargs.items()},
    }
    with open(LOG, "a") as f:
        f.write(json.dumps(line) + "\n")


# One receiver per signal, each in the decorator form the issue is about: the module keeps
# no other reference to them than what connect returns.
@signals.celeryd_init.connect
def on_celeryd_init(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.celeryd_after_setup.connect
def on_celeryd_after_setup(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_init.connect
def on_worker_init(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_before_create_process.connect
def on_worker_before_create_process(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_process_init.connect
def on_worker_process_init(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_process_shutdown.connect
def on_worker_process_shutdown(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_ready.connect
def on_worker_ready(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.heartbeat_sent.connect
def on_heartbeat_sent(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_shutting_down.connect
def on_worker_shutting_down(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.worker_shutdown.connect
def on_worker_shutdown(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.after_setup_logger.connect
def on_after_setup_logger(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.after_setup_task_logger.connect
def on_after_setup_task_logger(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_received.connect
def on_task_received(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_prerun.connect
def on_task_prerun(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_postrun.connect
def on_task_postrun(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_success.connect
def on_task_success(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.beat_init.connect
def on_beat_init(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.beat_embedded_init.connect
def on_beat_embedded_init(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_revoked.connect
def on_task_revoked(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_unknown.connect
def on_task_unknown(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_rejected.connect
def on_task_rejected(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


@signals.task_internal_error.connect
def on_task_internal_error(signal, sender, **kwargs):
    record(signal, sender, **kwargs)


if os.environ.get("TESTS_SIGNAL_SETUP_LOGGING"):

    @signals.setup_logging.connect
    def take_logging_over(signal, sender, loglevel, **kwargs):
        record(signal, sender, loglevel=loglevel, **kwargs)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{MARKER} %(levelname)s %(message)s"))
        ours = logging.getLogger("django_tasks")
        ours.handlers = [handler]
        ours.setLevel(logging.INFO)
        ours.propagate = False
