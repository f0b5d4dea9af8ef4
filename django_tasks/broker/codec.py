"""
The broker's codec: which ``Message`` field goes in which task-row column, both ways, and
which ``Outcome`` field a finish writes where.

Every vendor writes rows with ``enqueue_values``, reads claimed rows with ``decode`` and
writes final outcomes with ``final_values``,
whatever its statement looks like (the ORM, PostgreSQL's unnest/COPY, SQLite's UPDATE ...
RETURNING): one place to change when a column is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .. import serialization
from ..message import Message, Outcome
from ..serialization import to_json

#: The columns ``enqueue_values`` gives, in order; the others take their insert defaults.
ENQUEUE_COLUMNS = (
    "id",
    "name",
    "queue",
    "priority",
    "args",
    "kwargs",
    "eta",
    "expires",
    "retries",
    "max_retries",
    "acks_late",
    "options",
    "parent_id",
    "group_id",
)

#: The columns a claim returns, in order, for ``decode``; then one more value: whether the
#: row had expired, judged by the database's clock in the claim's own statement.
CLAIMED_COLUMNS = (
    "id",
    "name",
    "args",
    "kwargs",
    "queue",
    "priority",
    "retries",
    "eta",
    "expires",
    "options",
    "redelivered",
    "claim_seq",
)


def enqueue_values(m: Message, args: Any, kwargs: Any, options: Any) -> tuple:
    """
    The ENQUEUE_COLUMNS values of message `m`.

    `args`, `kwargs` and `options` come in the form the caller's statement takes: JSON text
    for SQL, Python values for the ORM's JSONFields.
    """
    o = m.options
    return (
        m.id,
        m.name,
        m.queue,
        m.priority,
        args,
        kwargs,
        m.eta,
        m.expires,
        m.retries,
        o.get("max_retries"),
        bool(o.get("acks_late")),
        options,
        o.get("parent_id") or "",
        o.get("group_id") or "",
    )


def python_args(m: Message) -> tuple[list, dict]:
    """The args and kwargs of `m` as JSON data, type markers included (what a JSONField holds)."""
    if m.wire is not None:
        return json.loads(m.wire[0]), json.loads(m.wire[1])
    return to_json(list(m.args)), to_json(m.kwargs)


def _same(value: Any) -> Any:
    return value


def decode(
    row: Sequence[Any],
    loads: Callable[[Any], Any] = serialization.decode,
    to_datetime: Callable[[Any], Any] = _same,
) -> Message:
    """
    The ``Message`` of a claimed row: CLAIMED_COLUMNS, then the expired flag.

    `loads` decodes the JSON columns, type markers included (``serialization.revive`` when
    the ORM parsed them already);
    `to_datetime` turns the database's eta and expires into aware datetimes (SQLite returns
    text from raw statements).
    """
    (
        task_id,
        name,
        args,
        kwargs,
        queue,
        priority,
        retries,
        eta,
        expires,
        options,
        redelivered,
        claim_seq,
        expired,
    ) = row
    return Message(
        id=task_id,
        name=name,
        args=tuple(loads(args) or ()),
        kwargs=loads(kwargs) or {},
        queue=queue,
        priority=priority,
        retries=retries,
        eta=to_datetime(eta),
        expires=to_datetime(expires),
        options={**(loads(options) or {}), "expired": bool(expired)},
        redelivered=bool(redelivered),
        claim_seq=claim_seq or 0,
    )


#: The columns a final outcome (SUCCESS, FAILURE, REVOKED, REJECTED) writes, in order; the
#: statement also sets done_at to the database's now().
FINAL_COLUMNS = ("state", "result", "exc_type", "exc_message", "traceback", "started_at")


def final_values(o: Outcome, result: Any, started_at: Any) -> tuple:
    """
    The FINAL_COLUMNS values of outcome `o`; `result` and `started_at` come in the form the
    caller's statement takes (JSON text or a value; a datetime, ISO text or adapted).
    """
    return (o.state, result, o.exc_type, o.exc_message, o.traceback, started_at)


def message_to_json(m: Message) -> dict[str, Any]:
    """
    `m` as JSON data, to be stored and enqueued later as it is (a chord's callback).

    The args and kwargs keep their type markers; eta and expires become ISO text.
    """
    args, kwargs = python_args(m)
    return {
        "id": m.id,
        "name": m.name,
        "args": args,
        "kwargs": kwargs,
        "queue": m.queue,
        "priority": m.priority,
        "retries": m.retries,
        "eta": m.eta.isoformat() if m.eta else None,
        "expires": m.expires.isoformat() if m.expires else None,
        "options": to_json(m.options),
    }


def message_from_json(data: dict[str, Any], prepend: Sequence[Any] = ()) -> Message:
    """
    The ``Message`` that ``message_to_json`` stored, with `prepend` (JSON data, type markers
    included) before its args; ready for ``enqueue``.
    """
    from datetime import datetime

    args = [*prepend, *data["args"]]
    kwargs = data["kwargs"]
    return Message(
        id=data["id"],
        name=data["name"],
        args=tuple(args),
        kwargs=kwargs,
        queue=data["queue"],
        priority=data["priority"],
        retries=data["retries"],
        eta=datetime.fromisoformat(data["eta"]) if data["eta"] else None,
        expires=datetime.fromisoformat(data["expires"]) if data["expires"] else None,
        options=serialization.revive(data["options"]),
        wire=(json.dumps(args), json.dumps(kwargs)),
    )
