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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from .. import serialization
from ..exceptions import DecodeError
from ..message import Message, Outcome
from ..serialization import safe_repr, to_json

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


#: Option types a stored row must respect: the worker reads these keys.
_NUMBER = (int, float)
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "time_limit": _NUMBER,
    "soft_time_limit": _NUMBER,
    "max_retries": (int,),
    "chain": (list,),
    "link": (list,),
    "link_error": (list,),
    "headers": (dict,),
    "acks_late": (bool,),
    "track_started": (bool,),
    "ignore_result": (bool,),
    "parent_id": (str,),
    "root_id": (str,),
    "group_id": (str,),
}


def _bad(name: Any, column: str, value: Any, expected: str) -> DecodeError:
    return DecodeError(
        f"Task {name!r} row column {column!r} holds {safe_repr(value, 200)}, not {expected}."
    )


def _check_options(name: Any, options: Any) -> None:
    if not isinstance(options, dict):
        raise _bad(name, "options", options, "an object")
    for key, kinds in _OPTION_TYPES.items():
        value = options.get(key)
        if value is None:
            continue
        wrong = not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))
        if not wrong and kinds is _NUMBER and not value > 0:
            wrong = True  # NaN, zero and negative limits too
        if not wrong and kinds == (list,) and not all(isinstance(i, dict) for i in value):
            wrong = True
        if wrong:
            raise _bad(name, f"options.{key}", value, f"a {'/'.join(k.__name__ for k in kinds)}")


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
    text from raw statements). Raises ``DecodeError`` naming the column and the value when
    the row is not one a sender writes (args not a list, options not an object, ...).
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
    values = {}
    for column, text in (("args", args), ("kwargs", kwargs), ("options", options)):
        try:
            values[column] = loads(text)
            if values[column] is None and column != "args":
                values[column] = {}  # an old row's empty kwargs or options
        except (TypeError, ValueError, RecursionError) as exc:
            raise _bad(name, column, text, f"JSON ({exc})") from None
    if not isinstance(values["args"], list):
        raise _bad(name, "args", values["args"], "a list")
    if not isinstance(values["kwargs"], dict):
        raise _bad(name, "kwargs", values["kwargs"], "an object")
    _check_options(name, values["options"])
    dates = {}
    for column, value in (("eta", eta), ("expires", expires)):
        dates[column] = to_datetime(value)
        if dates[column] is not None and not isinstance(dates[column], datetime):
            raise _bad(name, column, value, "a date and time")
    return Message(
        id=task_id,
        name=name,
        args=tuple(values["args"]),
        kwargs=values["kwargs"],
        queue=queue,
        priority=priority,
        retries=retries,
        eta=dates["eta"],
        expires=dates["expires"],
        options={**values["options"], "expired": bool(expired)},
        redelivered=bool(redelivered),
        claim_seq=claim_seq or 0,
    )


def decode_claimed(
    rows: Iterable[Sequence[Any]],
    loads: Callable[[Any], Any] = serialization.decode,
    to_datetime: Callable[[Any], Any] = _same,
) -> list[Message]:
    """
    The messages of claimed rows, in claim order; a row ``decode`` refuses is kept.

    Such a row comes back as a message with no arguments whose ``decode_error`` option says
    why: the worker ends it FAILURE with that reason at once (it is never given back to be
    claimed again, and the rest of the batch runs).
    """
    out = []
    for row in sorted(rows, key=lambda r: r[11] or 0):  # claim_seq: the order they run
        try:
            out.append(decode(row, loads, to_datetime))
        except DecodeError as exc:
            out.append(
                Message(
                    id=row[0],
                    name=str(row[1]),
                    queue=str(row[4]),
                    retries=row[6] if isinstance(row[6], int) else 0,
                    options={"decode_error": str(exc)},
                    claim_seq=row[11] or 0,
                )
            )
    return out


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


def options_encoder() -> Callable[[dict], str]:
    """
    ``dumps`` for message options that encodes each options dict once: ``enqueue_many``'s
    messages share one, so a batch of them costs one encoding.
    """
    encoded: dict[int, str] = {}

    def dumps_options(options: dict) -> str:
        text = encoded.get(id(options))
        if text is None:
            text = encoded[id(options)] = serialization.dumps(options)
        return text

    return dumps_options
