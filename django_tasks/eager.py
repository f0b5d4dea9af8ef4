"""
Running tasks here and now: ``apply()`` and ``ALWAYS_EAGER``.

A message is built exactly as for the queue (``sending.build_message``), then run through
``trace`` as a worker would run it; retries run at once and chains and links follow eagerly.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from . import conf, states
from .exceptions import NotRegistered
from .message import Message
from .registry import tasks as registry
from .result import EagerResult
from .trace import request_for, trace

logger = logging.getLogger("django_tasks.worker.trace")


def is_eager() -> bool:
    """Do calls run here instead of being queued (``ALWAYS_EAGER``)?"""
    return conf.get("ALWAYS_EAGER")


def apply_eagerly(task: Any, message: Message, *, throw: bool | None = None) -> EagerResult:
    """Run `message` here as a worker would; follow retries and chains; return an EagerResult."""
    propagate = conf.get("EAGER_PROPAGATES") if throw is None else throw
    while True:
        request = request_for(message, hostname=None, eager=True, using=None, stored=False)
        outcome = trace(task, message, request, worker="")
        if outcome.state != states.RETRY:
            break
        # Celery runs an eager task's retry at once, without waiting for its countdown.
        message = replace(
            message,
            retries=outcome.retries,
            args=outcome.args if outcome.args is not None else message.args,
            kwargs=outcome.kwargs if outcome.kwargs is not None else message.kwargs,
            queue=outcome.queue or message.queue,
            priority=message.priority if outcome.priority is None else outcome.priority,
        )
    result = EagerResult(message.id, outcome, task_name=task.name)
    if propagate and outcome.state == states.FAILURE:
        result.maybe_throw()
    for follow in outcome.follow_ups:
        try:
            nxt = registry[follow.name]
        except NotRegistered:
            logger.error(
                "task id=%s name=%s follow-up %s is not registered here",
                message.id,
                message.name,
                follow.name,
            )
            continue
        result.children.append(apply_eagerly(nxt, follow, throw=throw))
    if outcome.forget and outcome.follow_ups:
        # Replaced (Task.replace): the replacement ran under this id; its result is ours.
        return _find(result, message.id) or result
    return result


def _find(result: EagerResult, task_id: str) -> EagerResult | None:
    """The result with `task_id` among `result`'s descendants (a replacement), if any."""
    for child in result.children:
        if child.id == task_id:
            return child
        found = _find(child, task_id)
        if found is not None:
            return found
    return None
