"""
Run one task body and classify what happened: the part a worker and ``apply()`` share.

``trace`` pushes the request, sends Celery's signals, runs the body, calls the handlers in
Celery's order (on_success/on_failure/on_retry, then after_return) and returns an
``Outcome`` for the broker to record. It never raises for anything the task did.
"""

from __future__ import annotations

import logging
import random
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import conf, signals, states
from .exceptions import Ignore, Reject, Retry
from .message import Message, Outcome
from .request import Request, pop, push
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


def request_for(message: Message, *, hostname: str | None, eager: bool, using: str | None,
                stored: bool) -> Request:
    o = message.options
    return Request(
        id=message.id, task=message.name, args=tuple(message.args), kwargs=dict(message.kwargs),
        retries=message.retries, is_eager=eager, eta=message.eta, expires=message.expires,
        hostname=hostname,
        delivery_info={"queue": message.queue, "priority": message.priority,
                       "redelivered": message.redelivered},
        called_directly=False, callbacks=o.get("link"), errback=o.get("link_error"),
        headers=o.get("headers"), group=o.get("group_id"), chain=o.get("chain"),
        parent_id=o.get("parent_id"), root_id=o.get("root_id") or message.id,
        timelimit=(o.get("time_limit"), o.get("soft_time_limit")), stored=stored, using=using,
    )


def _call_handler(task: Any, handler: str, *args: Any) -> None:
    try:
        getattr(task, handler)(*args)
    except Exception:
        logger.error("task id=%s name=%s handler=%s failed", args[1] if handler != "after_return"
                     else args[2], task.name, handler, exc_info=True)


def _send(signal, **kwargs: Any) -> None:
    for receiver, response in signal.send_robust(**kwargs):
        if isinstance(response, Exception):
            logger.error("signal receiver %r failed", receiver, exc_info=response)


def trace(task: Any, message: Message, request: Request, *, worker: str = "") -> Outcome:
    """Run `task` for `message` under `request`; return its outcome (never raises)."""
    args, kwargs = tuple(message.args), dict(message.kwargs)
    opts = task.options
    started = timezone.now()
    token = push(request)
    retry_token = _pending_retry.set(None)
    retval: Any = None
    einfo: ExceptionInfo | None = None
    try:
        _send(signals.task_prerun, sender=task, task_id=message.id, task=task, args=args,
              kwargs=kwargs)
        try:
            retval = task.run(*args, **kwargs)
            pending = _pending_retry.get()
            if pending is not None:
                raise pending
            ignore = message.options.get("ignore_result", opts.ignore_result)
            stored = None if ignore else encode_result(task.name, retval)
            outcome = Outcome(id=message.id, state=states.SUCCESS, result=stored,
                              retries=message.retries)
        except Retry as exc:
            einfo = _einfo(exc.exc or exc)
            outcome = _retry_outcome(task, message, exc, einfo)
        except Ignore:
            outcome = Outcome(id=message.id, state=states.IGNORED, retries=message.retries)
        except Reject as exc:
            einfo = _einfo(exc)
            state = states.PENDING if exc.requeue else states.REJECTED
            outcome = Outcome(id=message.id, state=state, retries=message.retries,
                              exc_type="django_tasks.exceptions.Reject",
                              exc_message=str(exc.reason), traceback=einfo.traceback)
        except Exception as exc:
            einfo = _einfo(exc)
            auto = _autoretry(task, message, request, exc, einfo)
            outcome = auto or _failure(task, message, exc, einfo)
        outcome = _finish(task, message, request, outcome, retval, einfo)
        outcome = replace(outcome, started_at=started, finished_at=timezone.now(), worker=worker)
        _send(signals.task_postrun, sender=task, task_id=message.id, task=task, args=args,
              kwargs=kwargs, retval=retval if einfo is None else einfo.exception,
              state=outcome.state)
        return outcome
    finally:
        _pending_retry.reset(retry_token)
        pop(token)


def _einfo(exc: BaseException) -> ExceptionInfo:
    return ExceptionInfo(exc, format_traceback(exc))


def _failure(task: Any, message: Message, exc: BaseException, einfo: ExceptionInfo) -> Outcome:
    opts = task.options
    keep = not opts.ignore_result or opts.store_errors_even_if_ignored
    described = encode_exception(exc)
    return Outcome(
        id=message.id, state=states.FAILURE, retries=message.retries,
        result={"exc_type": described["exc_type"], "exc_args": described["exc_args"]}
        if keep else None,
        exc_type=described["exc_type"] if keep else "",
        exc_message=described["exc_message"] if keep else "",
        traceback=einfo.traceback if keep else "",
    )


def _retry_outcome(task: Any, message: Message, exc: Retry, einfo: ExceptionInfo) -> Outcome:
    retries = getattr(exc, "retries", message.retries + 1)
    eta = getattr(exc, "eta", None) or timezone.now() + timedelta(
        seconds=task.options.default_retry_delay
    )
    options = getattr(exc, "options", {}) or {}
    described = encode_exception(exc.exc) if exc.exc is not None else {
        "exc_type": "django_tasks.exceptions.Retry", "exc_args": [], "exc_message": str(exc)}
    return Outcome(
        id=message.id, state=states.RETRY, eta=eta, retries=retries,
        queue=options.get("queue"), priority=options.get("priority"),
        result={"exc_type": described["exc_type"], "exc_args": described["exc_args"]},
        exc_type=described["exc_type"], exc_message=described["exc_message"],
        traceback=einfo.traceback,
        args=getattr(exc, "args_override", None), kwargs=getattr(exc, "kwargs_override", None),
    )


def _autoretry(task: Any, message: Message, request: Request, exc: Exception,
               einfo: ExceptionInfo) -> Outcome | None:
    opts = task.options
    if not opts.autoretry_for or not isinstance(exc, opts.autoretry_for):
        return None
    retry_kwargs = dict(task.retry_kwargs or {})
    if opts.retry_backoff:
        base = 1 if opts.retry_backoff is True else int(opts.retry_backoff)
        countdown = min(opts.retry_backoff_max, base * (2 ** message.retries))
        if opts.retry_jitter:
            countdown = random.randrange(countdown + 1)  # noqa: S311 - jitter, not security
        retry_kwargs.setdefault("countdown", countdown)
    try:
        ret = task.retry(exc=exc, throw=False, **retry_kwargs)
    except Exception as final:  # past max_retries: the original exception
        return _failure(task, message, final, einfo if final is exc else _einfo(final))
    return _retry_outcome(task, message, ret, einfo)


def _finish(task: Any, message: Message, request: Request, outcome: Outcome, retval: Any,
            einfo: ExceptionInfo | None) -> Outcome:
    """Handlers, signals, logs, mails and follow-ups for `outcome`, in Celery's order."""
    args, kwargs = tuple(message.args), dict(message.kwargs)
    state = outcome.state
    if state == states.SUCCESS:
        _call_handler(task, "on_success", retval, message.id, args, kwargs)
        _send(signals.task_success, sender=task, result=retval)
        outcome = replace(outcome, follow_ups=_follow_ups(message, retval))
        logger.info("task id=%s name=%s state=%s", message.id, message.name, state)
    elif state == states.RETRY:
        _call_handler(task, "on_retry", einfo.exception, message.id, args, kwargs, einfo)
        _send(signals.task_retry, sender=task, request=request, reason=einfo.exception,
              einfo=einfo)
        logger.info("task id=%s name=%s state=%s retries=%d eta=%s reason=%r", message.id,
                    message.name, state, outcome.retries, outcome.eta, einfo.exception)
    elif state == states.FAILURE:
        exc = einfo.exception
        _call_handler(task, "on_failure", exc, message.id, args, kwargs, einfo)
        _send(signals.task_failure, sender=task, task_id=message.id, exception=exc, args=args,
              kwargs=kwargs, traceback=exc.__traceback__, einfo=einfo)
        expected = isinstance(exc, task.options.throws)
        if expected:
            logger.info("task id=%s name=%s state=%s exc=%r", message.id, message.name, state,
                        exc)
        else:
            logger.error("task id=%s name=%s state=%s exc=%r", message.id, message.name, state,
                         exc, exc_info=exc)
            if task.options.send_error_emails:
                _mail_admins(task, message, einfo)
        outcome = replace(outcome, follow_ups=_errbacks(message))
    else:
        logger.info("task id=%s name=%s state=%s", message.id, message.name, state)
    status = outcome.state
    ret = retval if einfo is None else einfo.exception
    _call_handler(task, "after_return", status, ret, message.id, args, kwargs, einfo)
    return outcome


def _mail_admins(task: Any, message: Message, einfo: ExceptionInfo) -> None:
    from django.core.mail import mail_admins

    exc = einfo.exception
    subject = f"[django_tasks] Task {task.name} ({message.id}): {type(exc).__name__}: {exc}"
    body = (
        f"Task {task.name} with id {message.id} raised exception:\n{exc!r}\n\n"
        f"Task was called with args: {list(message.args)!r} kwargs: {message.kwargs!r}.\n\n"
        f"The contents of the full traceback was:\n\n{einfo.traceback}"
    )
    try:
        mail_admins(subject[:200].replace("\n", " "), body, fail_silently=False)
    except Exception:
        logger.error("task id=%s name=%s error-mail failed", message.id, task.name,
                     exc_info=True)


def _follow_ups(message: Message, retval: Any) -> tuple[Message, ...]:
    """The chain's next task and the link callbacks, each given `retval` first."""
    from .canvas import Signature

    parent = {"parent_id": message.id, "root_id": message.options.get("root_id") or message.id}
    out = []
    chain = list(message.options.get("chain") or [])
    if chain:
        nxt = Signature.from_dict(chain[0])
        out.append(nxt.to_message(prepend=(retval,), chain=chain[1:], **parent))
    for data in message.options.get("link") or []:
        out.append(Signature.from_dict(data).to_message(prepend=(retval,), **parent))
    return tuple(out)


def _errbacks(message: Message) -> tuple[Message, ...]:
    """The link_error callbacks, each given the failed task's id (Celery 3.1's errback)."""
    from .canvas import Signature

    parent = {"parent_id": message.id, "root_id": message.options.get("root_id") or message.id}
    errbacks = list(message.options.get("link_error") or [])
    # In a chain, a failure runs the errbacks of the rest of the chain too, as Celery does.
    for data in message.options.get("chain") or []:
        errbacks.extend((data.get("options") or {}).get("link_error") or [])
    return tuple(Signature.from_dict(d).to_message(prepend=(message.id,), **parent)
                 for d in errbacks)


# -- eager ------------------------------------------------------------------------------------


def apply_eagerly(task: Any, args: tuple, kwargs: dict, *, task_id: str | None = None,
                  retries: int = 0, throw: bool | None = None, link: Any = None,
                  link_error: Any = None, **options: Any):
    """Run `task` here as a worker would; follow retries and chains; return an EagerResult."""
    from .result import EagerResult

    message = task._message(args, kwargs, task_id=task_id or str(uuid.uuid4()), link=link,
                            link_error=link_error, **options)
    message = replace(message, retries=retries)
    propagate = conf.get("EAGER_PROPAGATES") if throw is None else throw
    while True:
        request = request_for(message, hostname=None, eager=True, using=None, stored=False)
        outcome = trace(task, message, request)
        if outcome.state != states.RETRY:
            break
        message = replace(message, retries=outcome.retries,
                          args=outcome.args if outcome.args is not None else message.args,
                          kwargs=outcome.kwargs if outcome.kwargs is not None else message.kwargs)
    result = EagerResult(message.id, outcome, task_name=task.name)
    if propagate and outcome.state == states.FAILURE:
        result.maybe_throw()
    for follow in outcome.follow_ups:
        from .app import app

        nxt = app.tasks[follow.name]
        sub = apply_eagerly(nxt, follow.args, follow.kwargs, task_id=follow.id, throw=throw,
                            **{k: v for k, v in follow.options.items()
                               if k in ("chain", "link", "link_error", "parent_id", "root_id",
                                        "group_id")})
        result.children.append(sub)
    return result


