"""
The one write path: build a message from a task or a name, and send one or many.

Every caller goes through here: ``Task.apply_async`` and ``enqueue_many``, signatures,
groups and chains, ``send_task``, the worker's follow-ups (chains and links: built here,
written by the broker with the outcome that causes them) and the ``django.tasks`` backend.

``build_message`` checks a call completely (options, arguments as JSON, the call signature
when the task is known here) and touches no database; ``send`` writes messages now or at
commit, with Celery's publish signals around the write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.db import connections, transaction

from . import conf, signals
from .message import Message, new_task_id
from .options import (
    CALL_OPTIONS,
    check_call_options,
    check_call_serializer,
    check_priority,
    check_queue,
    check_retries,
    check_seconds,
    due_time,
    expiry_time,
)
from .registry import tasks as registry
from .request import current_request
from .routing import destination
from .serialization import encode_call, encode_call_text

#: Call options stored as given when set.
_PASSED = ("headers", "parent_id", "root_id", "group_id", "chain", "chord")


def build_message(
    target: Any,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    call: str = "apply_async()",
    **options: Any,
) -> Message:
    """
    Check one call of `target` (a task, or a task name) and build its message.

    A name registered here is checked as its task is (signature, options, defaults); a name
    not registered here gets the settings' queue and priority and only the options given.
    Raises ``TypeError``/``ValueError``/``EncodeError`` naming the task and the culprit;
    touches no database.
    """
    task = registry.get(target) if isinstance(target, str) else target
    name = task.name if task is not None else str(target)
    args, kwargs = tuple(args or ()), dict(kwargs or {})
    check_call_options(name, call, options, CALL_OPTIONS)
    opts = task.options if task is not None else None
    if opts is not None and opts.typing:
        task._check_signature(args, kwargs)
    check_call_serializer(name, options.get("serializer"))
    run_at = due_time(name, options.get("countdown"), options.get("eta"))
    expires = options.get("expires")
    if expires is None and opts is not None:
        expires = opts.expires
    # The call's queue/priority, the task's own, a route's (ROUTES), the settings' default.
    queue, priority = destination(name, task, args, kwargs, options)
    check_queue(name, queue)
    check_priority(name, priority)
    param_names = task._param_names() if task is not None else None
    wire_args, wire_kwargs = encode_call(name, args, kwargs, param_names)
    extra: dict[str, Any] = {}
    for key in ("time_limit", "soft_time_limit"):
        value = options.get(key, getattr(opts, key, None))
        if value is not None:
            check_seconds(name, key, value)
            extra[key] = value
    if opts is not None:
        extra["acks_late"] = bool(options.get("acks_late", opts.acks_late))
        extra["track_started"] = opts.track_started
        max_retries = options.get("max_retries", opts.max_retries)
    else:
        if options.get("acks_late") is not None:
            extra["acks_late"] = bool(options["acks_late"])
        max_retries = options.get("max_retries")
    if max_retries is not None:
        extra["max_retries"] = max_retries
    for key in ("link", "link_error"):
        if options.get(key):
            extra[key] = signature_list(options[key])
    for key in _PASSED:
        if options.get(key):
            extra[key] = options[key]
    sender = current_request()
    if sender.id is not None and not sender.called_directly and "parent_id" not in extra:
        # Sent from inside a running task: that task is its parent, as in Celery 4.
        extra["parent_id"] = sender.id
        extra["root_id"] = extra.get("root_id") or sender.root_id or sender.id
    if options.get("ignore_result") is not None:
        extra["ignore_result"] = bool(options["ignore_result"])
    retries = options.get("retries") or 0
    check_retries(name, retries)
    return Message(
        id=str(options.get("task_id") or new_task_id()),
        name=name,
        args=tuple(wire_args),
        kwargs=wire_kwargs,
        queue=queue,
        priority=priority,
        retries=retries,
        eta=run_at,
        expires=expiry_time(name, expires),
        options=extra,
    )


def build_many(task: Any, calls: Any, **options: Any) -> list[Message]:
    """
    Build one message per call of `task`: `calls` yields ``(args, kwargs)`` pairs or args.

    The options are the same for every call, so they are checked and resolved once (with
    the first call); each later call is checked for its signature and JSON only.
    """
    if options.get("task_id"):
        raise TypeError(
            f"Task {task.name!r}: enqueue_many() gives each call its own id; "
            "task_id is not an option here."
        )
    messages: list[Message] = []
    first: Message | None = None
    typing, names = task.options.typing, task._param_names()
    for call in calls:
        if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], dict):
            args, kwargs = tuple(call[0]), dict(call[1])
        else:
            args, kwargs = tuple(call), {}
        if first is None:
            first = build_message(task, args, kwargs, call="enqueue_many()", **options)
            messages.append(first)
            continue
        if typing:
            task._check_signature(args, kwargs)
        messages.append(
            replace(
                first,
                id=new_task_id(),
                args=args,
                kwargs=kwargs,
                wire=encode_call_text(task.name, args, kwargs, names),
            )
        )
    return messages


def from_signature(sig: Mapping[str, Any], prepend: tuple = (), **options: Any) -> Message:
    """
    The message a signature (a dict: task, args, kwargs, options, immutable) sends.

    `prepend` goes before its args unless it is immutable (a chain's previous result);
    `options` are merged over the signature's own.
    """
    args = tuple(sig.get("args") or ())
    if not sig.get("immutable"):
        args = (*prepend, *args)
    opts = {**(sig.get("options") or {}), **options}
    for key in ("on_commit", "using"):
        opts.pop(key, None)
    return build_message(sig["task"], args, sig.get("kwargs") or {}, **opts)


def signature_list(value: Any) -> list[dict]:
    """Normalise a link/link_error option: one signature or a list of them, as dicts."""
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, Mapping) and "task" in item:
            out.append(
                {
                    "task": item["task"],
                    "args": list(item.get("args") or ()),
                    "kwargs": dict(item.get("kwargs") or {}),
                    "options": dict(item.get("options") or {}),
                    "immutable": bool(item.get("immutable")),
                }
            )
        elif hasattr(item, "s"):  # a task: link=add means add.s()
            out.append(dict(item.s()))
        else:
            raise TypeError(f"link/link_error must be signatures, not {item!r}.")
    return out


def send(
    messages: Sequence[Message],
    *,
    using: str | None = None,
    on_commit: bool | None = None,
    prepare: Callable[[Sequence[Message]], Sequence[Message]] | None = None,
    written: Callable[[], None] | None = None,
    write: Callable[[Sequence[Message], Any], None] | None = None,
) -> None:
    """
    Write `messages`: now, or when the transaction commits inside ``atomic()``.

    ``on_commit=False`` writes them in the current transaction instead. Celery's
    ``before_task_publish`` and ``after_task_publish`` are sent around the write (so, inside
    ``atomic()``, at commit: a rolled-back task was never published). `prepare` may
    replace the messages at the moment of writing (to stamp them); `written` runs after.
    `write(messages, broker)` writes them instead of ``broker.enqueue`` (a chord's header
    with its counter).
    """
    if not messages:
        return
    from .broker import get_broker

    using = using or conf.get("DATABASE")
    broker = get_broker(using)

    def publish() -> None:
        batch = _before_publish(prepare(messages) if prepare is not None else messages)
        if write is not None:
            write(batch, broker)
        else:
            broker.enqueue(batch)
        _after_publish(batch)
        if written is not None:
            written()

    if on_commit is not False and connections[using].in_atomic_block:
        transaction.on_commit(publish, using=using)
    else:
        publish()


def _standard_headers(message: Message) -> dict[str, Any]:
    """Celery's protocol headers of `message` (what receivers of the publish signals read)."""
    o = message.options
    return {
        "lang": "py",
        "task": message.name,
        "id": message.id,
        "eta": message.eta.isoformat() if message.eta else None,
        "expires": message.expires.isoformat() if message.expires else None,
        "retries": message.retries,
        "group": o.get("group_id"),
        "root_id": o.get("root_id") or message.id,
        "parent_id": o.get("parent_id"),
        "timelimit": (o.get("time_limit"), o.get("soft_time_limit")),
    }


def _headers(message: Message) -> dict[str, Any]:
    """The user's ``headers=`` under Celery's standard ones."""
    return {**(message.options.get("headers") or {}), **_standard_headers(message)}


def _body(message: Message) -> tuple:
    o = message.options
    embed = {
        "callbacks": o.get("link"),
        "errbacks": o.get("link_error"),
        "chain": o.get("chain"),
        "chord": o.get("chord"),
    }
    return (list(message.args), dict(message.kwargs), embed)


def _before_publish(messages: Sequence[Message]) -> Sequence[Message]:
    """Send ``before_task_publish``; headers its receivers add are kept in the message."""
    if not signals.before_task_publish.receivers:
        return messages
    out = []
    for message in messages:
        standard = _standard_headers(message)
        headers = {**(message.options.get("headers") or {}), **standard}
        signals.before_task_publish.send(
            sender=message.name,
            body=_body(message),
            exchange="",
            routing_key=message.queue,
            headers=headers,
            properties={"priority": message.priority, "correlation_id": message.id},
            declare=[],
            retry_policy=None,
        )
        added = {k: v for k, v in headers.items() if k not in standard}
        if added != (message.options.get("headers") or {}):
            message = replace(message, options={**message.options, "headers": added})
        out.append(message)
    return out


def _after_publish(messages: Sequence[Message]) -> None:
    if not signals.after_task_publish.receivers:
        return
    for message in messages:
        signals.after_task_publish.send(
            sender=message.name,
            body=_body(message),
            exchange="",
            routing_key=message.queue,
            headers=_headers(message),
        )
