"""
Run one claimed message as a worker does: the checks and limits around ``trace``.

Expiry, unknown names and bad data end the row with a reason (the worker goes on); the
start marker (the consumer's slot, see ``slots.py``; plus ``broker.ack`` for
``track_started`` tasks) is written before the body; the soft time limit is armed around
it; the slot also tells the supervisor what runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .. import signals, states
from ..exceptions import NotRegistered, SoftTimeLimitExceeded
from ..message import Message, Outcome
from ..serialization import dumps, storable_text
from ..trace import request_for, trace

logger = logging.getLogger("django_tasks.worker.executor")

_ENCODE_ERROR = "django_tasks.exceptions.EncodeError"


@dataclass
class ExecutorContext:
    """What an executor needs from its consumer: who it is and where it records."""

    app: object
    broker: object
    worker: str
    hostname: str
    time_limit: float | None = None
    soft_time_limit: float | None = None


def _final(message: Message, state: str, exc_type: str, text: str, worker: str) -> Outcome:
    now = timezone.now()
    return Outcome(
        id=message.id,
        state=state,
        exc_type=exc_type,
        exc_message=text,
        result={"exc_type": exc_type, "exc_args": [text]},
        retries=message.retries,
        started_at=now,
        finished_at=now,
        worker=worker,
    )


def lookup(ctx: ExecutorContext, message: Message):
    """The registered task for `message`, or a FAILURE outcome saying why there is none."""
    if message.options.get("decode_error"):
        logger.error(
            "task id=%s name=%s state=FAILURE reason=undecodable-row", message.id, message.name
        )
        return None, _final(
            message,
            states.FAILURE,
            "django_tasks.exceptions.DecodeError",
            message.options["decode_error"],
            ctx.worker,
        )
    try:
        # A resolver registered with the app (the django.tasks backend's) may own the
        # message; else its name finds it.
        return ctx.app.tasks.for_message(message), None
    except (NotRegistered, ImportError, ImproperlyConfigured) as exc:
        signals.task_unknown.send(
            sender=None, name=message.name, id=message.id, message=message, exc=exc
        )
        logger.error(
            "task id=%s name=%s state=FAILURE reason=not-registered", message.id, message.name
        )
        return None, _final(
            message, states.FAILURE, "django_tasks.exceptions.NotRegistered", str(exc), ctx.worker
        )


def execute(ctx: ExecutorContext, message: Message, task, slot) -> Outcome | None:
    """
    Run `message` and return its outcome, or None when it must not run (revoked meanwhile).

    The start marker is written into the consumer's slot first; from then on a crash of
    this process ends the row FAILURE (acks early) or redelivers it (acks late), never runs
    it silently twice. ``track_started`` tasks are also acked in the database (STARTED).
    """
    if message.options.get("expired"):
        _send_revoked(ctx, task, message, expired=True)
        logger.info("task id=%s name=%s state=REVOKED reason=expired", message.id, message.name)
        return _final(
            message,
            states.REVOKED,
            "django_tasks.exceptions.TaskRevokedError",
            "expired",
            ctx.worker,
        )
    if not isinstance(message.args, list | tuple) or not isinstance(message.kwargs, dict):
        logger.error(
            "task id=%s name=%s state=FAILURE reason=bad-arguments", message.id, message.name
        )
        return _final(
            message,
            states.FAILURE,
            "django_tasks.exceptions.DecodeError",
            f"Task {message.name!r} message has undecodable arguments: args must be a list "
            f"and kwargs an object, not {message.args!r} and {message.kwargs!r}.",
            ctx.worker,
        )
    opts = task.options
    track = bool(message.options.get("track_started", opts.track_started))
    if track and not ctx.broker.ack(ctx.worker, message):
        logger.info(
            "task id=%s name=%s state=REVOKED reason=revoked-before-start", message.id, message.name
        )
        _send_revoked(ctx, task, message, expired=False)
        return None
    hard = message.options.get("time_limit") or opts.time_limit or ctx.time_limit
    soft = message.options.get("soft_time_limit") or opts.soft_time_limit or ctx.soft_time_limit
    request = _request(ctx, message)
    # The start marker: from here on, recovery counts this row as started.
    slot.begin(message.id, message.claim_seq, hard)
    try:
        with soft_time_limit(soft):
            return trace(task, message, request, worker=ctx.worker)
    finally:
        slot.end()


def storable(message: Message, outcome: Outcome) -> Outcome:
    """
    `outcome` as the database can store it, checked before it joins a batch.

    Its error texts keep what they say (NUL and lone surrogates escaped); data JSON or the
    database cannot hold (a retry's new arguments, say) makes it this task's FAILURE with
    an ``EncodeError`` saying why: never a batch that cannot be recorded.
    """
    text, trace_text = storable_text(outcome.exc_message), storable_text(outcome.traceback)
    if text is not outcome.exc_message or trace_text is not outcome.traceback:
        outcome = replace(outcome, exc_message=text, traceback=trace_text)
    try:
        dumps(outcome.result)
        if outcome.args is not None:
            dumps(list(outcome.args))
        if outcome.kwargs is not None:
            dumps(outcome.kwargs)
    except (TypeError, ValueError) as exc:
        reason = f"Task {message.name!r} outcome {outcome.state} cannot be stored: {exc}."
        logger.error(
            "task id=%s name=%s state=FAILURE reason=unstorable-outcome", message.id, message.name
        )
        return replace(
            _final(message, states.FAILURE, _ENCODE_ERROR, reason, outcome.worker),
            started_at=outcome.started_at,
        )
    return outcome


def _send_revoked(ctx: ExecutorContext, task, message: Message, *, expired: bool) -> None:
    """Celery's ``task_revoked`` for a task that will not run (expired, or revoked first)."""
    signals.task_revoked.send(
        sender=task, request=_request(ctx, message), terminated=False, signum=None, expired=expired
    )


def _request(ctx: ExecutorContext, message: Message):
    """The ``self.request`` of this worker's run of `message`."""
    return request_for(
        message, hostname=ctx.hostname, eager=False, using=ctx.broker.using, stored=True
    )


def _raise_soft(signum, frame):
    raise SoftTimeLimitExceeded()


@contextmanager
def soft_time_limit(seconds: float | None):
    """Raise ``SoftTimeLimitExceeded`` in this thread after `seconds` (main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise_soft)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
