"""
Run one task body and classify what happened: the part a worker and ``apply()`` share.

``trace`` pushes the request, sends Celery's signals, runs the body, calls the handlers in
Celery's order and returns an ``Outcome`` for the broker to record. It never raises for
anything the task (or one of its handlers) did.

The order, as in Celery 3.1's ``celery.app.trace``:

- SUCCESS: the result is encoded and the follow-ups (the chain's next task, ``link``
  callbacks) are built (either failing makes the task a FAILURE), then ``on_success``, the
  ``task_success`` signal, then ``after_return``. The broker records the outcome and enqueues
  the follow-ups in one transaction.
- FAILURE: ``on_failure``, ``task_failure``, the log line (ERROR with traceback; INFO
  without for an exception in ``throws``), the error e-mail, then ``after_return``; the
  ``link_error`` callbacks are enqueued with the outcome.
- RETRY: ``on_retry`` and ``task_retry``; IGNORED and REJECTED: nothing. ``after_return``
  is not called for these three, as in Celery.
"""

from __future__ import annotations

import logging
import random
import socket
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from . import signals, states
from .exceptions import Ignore, Reject, Replaced, Retry
from .message import Message, Outcome
from .request import Request, pop, push
from .result import AsyncResult, GroupResult
from .sending import from_signature
from .serialization import encode_exception, encode_result, format_traceback

logger = logging.getLogger("django_tasks.worker.trace")

_pending_retry: ContextVar[Retry | None] = ContextVar("django_tasks_pending_retry", default=None)


def note_retry(retry: Retry) -> None:
    """Remember that the running body asked to be retried (``retry(throw=False)``)."""
    _pending_retry.set(retry)


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """Celery's ``einfo``: the exception, its type and its formatted traceback."""

    exception: BaseException
    traceback: str

    @property
    def type(self) -> type[BaseException]:
        return type(self.exception)

    def __str__(self) -> str:
        return self.traceback


def request_for(
    message: Message, *, hostname: str | None, eager: bool, using: str | None, stored: bool
) -> Request:
    """The ``self.request`` of a worker (or eager) run of `message`."""
    o = message.options
    return Request(
        id=message.id,
        task=message.name,
        args=tuple(message.args),
        kwargs=dict(message.kwargs),
        retries=message.retries,
        is_eager=eager,
        eta=message.eta,
        expires=message.expires,
        hostname=hostname,
        delivery_info={
            "queue": message.queue,
            "priority": message.priority,
            "redelivered": message.redelivered,
        },
        called_directly=False,
        callbacks=o.get("link"),
        errback=o.get("link_error"),
        headers=o.get("headers"),
        group=o.get("group_id"),
        chain=o.get("chain"),
        chord=o.get("chord"),
        parent_id=o.get("parent_id"),
        root_id=o.get("root_id") or message.id,
        timelimit=(o.get("time_limit"), o.get("soft_time_limit")),
        stored=stored,
        using=using,
    )


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break the worker
        return f"<{type(value).__name__} (repr failed)>"


def _describe(reason: Any) -> str:
    """A Reject reason as text: a string as is, an exception as ``Type: message``."""
    if isinstance(reason, str):
        return reason
    if isinstance(reason, BaseException):
        try:
            text = str(reason)
        except Exception:  # a broken __str__ must not break the worker
            text = ""
        return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return _safe_repr(reason)


def _call_handler(task: Any, task_id: str, handler: str, *args: Any) -> None:
    try:
        getattr(task, handler)(*args)
    except Exception:
        logger.error(
            "task id=%s name=%s handler=%s failed", task_id, task.name, handler, exc_info=True
        )


def _send(signal, **kwargs: Any) -> None:
    for receiver, response in signal.send_robust(**kwargs):
        if isinstance(response, Exception):
            logger.error("signal receiver %r failed", receiver, exc_info=response)


def _runner(task: Any):
    """The callable that runs the body: a custom ``__call__`` when the class defines one."""
    return task if task.custom_call else task.run


def trace(task: Any, message: Message, request: Request, *, worker: str = "") -> Outcome:
    """Run `task` for `message` under `request`; return its outcome (never raises)."""
    args, kwargs = tuple(message.args), dict(message.kwargs)
    started = timezone.now()
    token = push(request)
    retry_token = _pending_retry.set(None)
    retval: Any = None
    einfo: ExceptionInfo | None = None
    outcome: Outcome | None = None
    try:
        _send(
            signals.task_prerun,
            sender=task,
            task_id=message.id,
            task=task,
            args=args,
            kwargs=kwargs,
        )
        try:
            retval = _as_value(_runner(task)(*args, **kwargs))
            pending = _pending_retry.get()
            if pending is not None:
                raise pending
            outcome = _success(task, message, retval)
        except Retry as exc:
            einfo = _einfo(exc.exc if exc.exc is not None else exc, exc)
            outcome = _retry_outcome(task, message, exc, einfo)
        except Replaced as exc:
            outcome = Outcome(
                id=message.id,
                state=states.IGNORED,
                retries=message.retries,
                forget=True,
                follow_ups=exc.messages,
            )
        except Ignore:
            outcome = Outcome(id=message.id, state=states.IGNORED, retries=message.retries)
        except Reject as exc:
            outcome = _rejected(task, message, exc, worker)
        except Exception as exc:
            einfo = _einfo(exc)
            auto = _autoretry(task, message, exc, einfo)
            if auto is not None:
                outcome, einfo = auto
            else:
                outcome = _failure(task, message, exc, einfo)
        finished = timezone.now()
        outcome = replace(outcome, started_at=started, finished_at=finished, worker=worker)
        outcome = _finish(
            task,
            message,
            request,
            outcome,
            retval,
            einfo,
            worker,
            (finished - started).total_seconds(),
        )
        return outcome
    finally:
        if outcome is not None:
            _send(
                signals.task_postrun,
                sender=task,
                task_id=message.id,
                task=task,
                args=args,
                kwargs=kwargs,
                retval=retval if einfo is None else einfo.exception,
                state=outcome.state,
            )
        _pending_retry.reset(retry_token)
        pop(token)


def _as_value(retval: Any) -> Any:
    """
    A task that returns a result handle (``AsyncResult``, ``GroupResult``) returns its id.

    Celery stores such a return value by reference; here the id is the reference: the
    caller reads it back with ``AsyncResult(id)`` / ``GroupResult.restore(id)``.
    """
    if isinstance(retval, AsyncResult | GroupResult):
        return retval.id
    return retval


def _einfo(exc: BaseException, raised: BaseException | None = None) -> ExceptionInfo:
    # A retry shows the traceback of the exception it was given when that one was raised,
    # else where retry() itself was raised.
    source = exc if exc.__traceback__ is not None or raised is None else raised
    return ExceptionInfo(exc, format_traceback(source))


def _ignores_result(task: Any, message: Message) -> bool:
    return bool(message.options.get("ignore_result", task.options.ignore_result))


def _success(task: Any, message: Message, retval: Any) -> Outcome:
    """Encode the result and build the follow-ups; an error here makes the task fail."""
    ignored = _ignores_result(task, message)
    stored = None if ignored else encode_result(task.name, retval)
    return Outcome(
        id=message.id,
        state=states.SUCCESS,
        result=stored,
        retries=message.retries,
        follow_ups=_follow_ups(message, retval),
        # ignore_result: no state is kept once the task finished (AsyncResult: PENDING).
        forget=ignored,
    )


def _failure(task: Any, message: Message, exc: BaseException, einfo: ExceptionInfo) -> Outcome:
    opts = task.options
    keep = not _ignores_result(task, message) or opts.store_errors_even_if_ignored
    described = encode_exception(exc)
    return Outcome(
        id=message.id,
        state=states.FAILURE,
        retries=message.retries,
        result={"exc_type": described["exc_type"], "exc_args": described["exc_args"]}
        if keep
        else None,
        exc_type=described["exc_type"] if keep else "",
        exc_message=described["exc_message"] if keep else "",
        traceback=einfo.traceback if keep else "",
        forget=not keep,
    )


def _rejected(task: Any, message: Message, exc: Reject, worker: str) -> Outcome:
    acks_late = bool(message.options.get("acks_late", task.options.acks_late))
    requeue = bool(exc.requeue) and acks_late
    if exc.requeue and not acks_late:
        # Celery: "This won't have any effect unless Task.acks_late is enabled": an acked
        # message cannot go back to the queue.
        logger.warning(
            "task id=%s name=%s state=REJECTED worker=%s requeue=ignored reason=acks-early",
            message.id,
            message.name,
            worker or "-",
        )
    text = _describe(exc.reason)
    return Outcome(
        id=message.id,
        state=states.PENDING if requeue else states.REJECTED,
        retries=message.retries,
        exc_type="django_tasks.exceptions.Reject",
        exc_message=text,
        result=None,
    )


def _retry_outcome(task: Any, message: Message, exc: Retry, einfo: ExceptionInfo) -> Outcome:
    retries = getattr(exc, "retries", message.retries + 1)
    eta = getattr(exc, "eta", None)
    if eta is None:
        # A Retry raised by hand: its ``when`` (seconds or a datetime), else the default.
        when = exc.when
        if isinstance(when, datetime):
            eta = when
        else:
            seconds = (
                when
                if isinstance(when, int | float) and not isinstance(when, bool)
                else task.options.default_retry_delay
            )
            eta = timezone.now() + timedelta(seconds=seconds)
    options = getattr(exc, "options", {}) or {}
    described = (
        encode_exception(exc.exc)
        if exc.exc is not None
        else {"exc_type": "django_tasks.exceptions.Retry", "exc_args": [], "exc_message": str(exc)}
    )
    return Outcome(
        id=message.id,
        state=states.RETRY,
        eta=eta,
        retries=retries,
        queue=options.get("queue"),
        priority=options.get("priority"),
        result={"exc_type": described["exc_type"], "exc_args": described["exc_args"]},
        exc_type=described["exc_type"],
        exc_message=described["exc_message"],
        traceback=einfo.traceback,
        args=getattr(exc, "args_override", None),
        kwargs=getattr(exc, "kwargs_override", None),
    )


def _autoretry(
    task: Any, message: Message, exc: Exception, einfo: ExceptionInfo
) -> tuple[Outcome, ExceptionInfo] | None:
    """Retry for an exception in ``autoretry_for`` (Celery 4's), or None to fail as usual."""
    opts = task.options
    if not opts.autoretry_for or not isinstance(exc, opts.autoretry_for):
        return None
    retry_kwargs = dict(opts.retry_kwargs)
    if opts.retry_backoff:
        factor = int(max(1.0, opts.retry_backoff))
        countdown = min(opts.retry_backoff_max, factor * (2**message.retries))
        if opts.retry_jitter:
            countdown = random.randrange(int(countdown) + 1)  # noqa: S311 - jitter only
        retry_kwargs["countdown"] = max(0, countdown)
    try:
        ret = task.retry(exc=exc, throw=False, **retry_kwargs)
    except Exception as final:  # past max_retries: the original exception
        info = einfo if final is exc else _einfo(final)
        return _failure(task, message, final, info), info
    return _retry_outcome(task, message, ret, einfo), einfo


def _finish(
    task: Any,
    message: Message,
    request: Request,
    outcome: Outcome,
    retval: Any,
    einfo: ExceptionInfo | None,
    worker: str,
    runtime: float,
) -> Outcome:
    """Handlers, signals, logs, mails and errbacks for `outcome`, in Celery's order."""
    args, kwargs = tuple(message.args), dict(message.kwargs)
    task_id, state, who = message.id, outcome.state, worker or "-"
    if state == states.SUCCESS:
        logger.info(
            "task id=%s name=%s state=%s worker=%s runtime=%.3f",
            task_id,
            message.name,
            state,
            who,
            runtime,
        )
        _call_handler(task, task_id, "on_success", retval, task_id, args, kwargs)
        _send(signals.task_success, sender=task, result=retval)
        _call_handler(task, task_id, "after_return", state, retval, task_id, args, kwargs, None)
    elif state == states.FAILURE:
        exc = einfo.exception
        expected = isinstance(exc, task.options.throws)
        if expected:
            logger.info(
                "task id=%s name=%s state=%s worker=%s runtime=%.3f exc=%s",
                task_id,
                message.name,
                state,
                who,
                runtime,
                _safe_repr(exc),
            )
        else:
            logger.error(
                "task id=%s name=%s state=%s worker=%s runtime=%.3f exc=%s",
                task_id,
                message.name,
                state,
                who,
                runtime,
                _safe_repr(exc),
                exc_info=exc,
            )
        _call_handler(task, task_id, "on_failure", exc, task_id, args, kwargs, einfo)
        _send(
            signals.task_failure,
            sender=task,
            task_id=task_id,
            exception=exc,
            args=args,
            kwargs=kwargs,
            traceback=exc.__traceback__,
            einfo=einfo,
        )
        if not expected and task.options.send_error_emails:
            _mail_admins(task, message, request, einfo)
        _call_handler(task, task_id, "after_return", state, exc, task_id, args, kwargs, einfo)
        outcome = replace(outcome, follow_ups=errbacks(message))
    elif state == states.RETRY:
        reason = einfo.exception
        logger.info(
            "task id=%s name=%s state=%s worker=%s runtime=%.3f retries=%d eta=%s exc=%s",
            task_id,
            message.name,
            state,
            who,
            runtime,
            outcome.retries,
            outcome.eta.isoformat() if outcome.eta else "-",
            _safe_repr(reason),
        )
        raised = _retry_of(reason)
        _call_handler(task, task_id, "on_retry", reason, task_id, args, kwargs, einfo)
        _send(signals.task_retry, sender=task, request=request, reason=raised, einfo=einfo)
    else:
        extra = f" reason={outcome.exc_message}" if outcome.exc_message else ""
        logger.info(
            "task id=%s name=%s state=%s worker=%s runtime=%.3f%s",
            task_id,
            message.name,
            state,
            who,
            runtime,
            extra,
        )
    return outcome


def _retry_of(reason: BaseException) -> BaseException:
    """The ``Retry`` that carried `reason` (what Celery's task_retry signal sends)."""
    return reason if isinstance(reason, Retry) else Retry(exc=reason)


def _mail_admins(task: Any, message: Message, request: Request, einfo: ExceptionInfo) -> None:
    """Celery's error e-mail, through Django's ``mail_admins`` (ADMINS, SERVER_EMAIL)."""
    from django.core.mail import mail_admins

    exc = einfo.exception
    hostname = request.hostname or socket.gethostname()
    subject = f"[django_tasks@{hostname}] Error: Task {task.name} ({message.id}): {_safe_repr(exc)}"
    body = (
        f"Task {task.name} with id {message.id} raised exception:\n{_safe_repr(exc)}\n\n\n"
        f"Task was called with args: {list(message.args)!r} kwargs: {message.kwargs!r}.\n\n"
        f"The contents of the full traceback was:\n\n{einfo.traceback}\n\n"
        f"-- \nJust to let you know,\ndjango_tasks at {hostname}."
    )
    try:
        mail_admins(" ".join(subject.split())[:200], body, fail_silently=False)
    except Exception:
        logger.error("task id=%s name=%s error-mail failed", message.id, task.name, exc_info=True)


def _follow_ups(message: Message, retval: Any) -> tuple[Message, ...]:
    """The chain's next task and the link callbacks, each given `retval` first."""
    parent = {"parent_id": message.id, "root_id": message.options.get("root_id") or message.id}
    out = []
    chain = list(message.options.get("chain") or [])
    if chain:
        out.append(from_signature(chain[0], (retval,), chain=chain[1:], **parent))
    for data in message.options.get("link") or []:
        out.append(from_signature(data, (retval,), **parent))
    return tuple(out)


def errbacks(message: Message) -> tuple[Message, ...]:
    """The link_error callbacks, each given the failed task's id (Celery 3.1's errback)."""
    parent = {"parent_id": message.id, "root_id": message.options.get("root_id") or message.id}
    errbacks = list(message.options.get("link_error") or [])
    # In a chain, a failure runs the errbacks of the rest of the chain too, as Celery does.
    for data in message.options.get("chain") or []:
        errbacks.extend((data.get("options") or {}).get("link_error") or [])
    out = []
    for data in errbacks:
        try:
            out.append(from_signature(data, (message.id,), **parent))
        except Exception:
            logger.error(
                "task id=%s name=%s errback=%s cannot be sent",
                message.id,
                message.name,
                data.get("task"),
                exc_info=True,
            )
    return tuple(out)
