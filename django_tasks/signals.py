"""Celery's task signals, as Django signals."""

from django.dispatch import Signal

#: Sent before a task body runs: sender=task, task_id, task, args, kwargs.
task_prerun = Signal()
#: Sent after a task body ran: sender=task, task_id, task, args, kwargs, retval, state.
task_postrun = Signal()
#: Sent when a task succeeded: sender=task, result.
task_success = Signal()
#: Sent when a task failed: sender=task, task_id, exception, args, kwargs, traceback, einfo.
task_failure = Signal()
#: Sent when a task will be retried: sender=task, request, reason, einfo.
task_retry = Signal()
#: Sent when a task is revoked or expired: sender=task, request, terminated, expired.
task_revoked = Signal()
#: Sent when a message names no registered task: sender=None, name, id, message.
task_unknown = Signal()
#: Sent after a message was written: sender=task name, body, exchange, routing_key, headers.
after_task_publish = Signal()
#: Sent before a message is written: sender=task name, body, exchange, routing_key, headers,
#: properties, declare, retry_policy (headers receivers add are kept in the message).
before_task_publish = Signal()
