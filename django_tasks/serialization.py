"""
The JSON wire format of arguments, results and exceptions.

Values JSON has no type for travel as kombu's (Celery >= 5.3) type markers, so a message
reads as Celery's would: ``{"__type__": "datetime", "__value__": "2026-01-02T03:04:05+00:00"}``.
``dumps`` writes them, ``decode`` (JSON text) and ``revive`` (JSON already parsed, as a
``JSONField`` gives it) turn them back into the values they stand for.
"""

from __future__ import annotations

import base64
import importlib
import json
import traceback as tb
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.utils.dateparse import parse_duration
from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

from .exceptions import EncodeError, TaskError

#: The keys of a type marker, exactly (kombu's).
MARKER_KEYS = frozenset({"__type__", "__value__"})
# Text every encoded marker contains: without it, a text needs no reviving.
_TYPE_KEY = '"__type__"'


def _marker(kind: str, value: Any) -> dict[str, Any]:
    return {"__type__": kind, "__value__": value}


class _Encoder(json.JSONEncoder):
    """Kombu's type markers (and ``timedelta``, which kombu lacks); lazy strings as text."""

    def default(self, o: Any) -> Any:
        reducer = getattr(o, "__json__", None)  # kombu's hook: the object says what it is
        if reducer is not None:
            return _escaped(reducer())
        if isinstance(o, Promise):
            return str(o)
        # datetime before date: a datetime is a date too.
        if isinstance(o, datetime):
            return _marker("datetime", o.isoformat())
        if isinstance(o, date):
            return _marker("date", o.isoformat())
        if isinstance(o, time):
            return _marker("time", o.isoformat())
        if isinstance(o, Decimal):
            return _marker("decimal", str(o))
        if isinstance(o, UUID):
            return _marker("uuid", {"hex": o.hex, "version": o.version})
        if isinstance(o, timedelta):
            return _marker("timedelta", duration_iso_string(o))
        if isinstance(o, bytes):
            try:
                text = o.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and "\x00" not in text:  # NUL: no database stores it in text
                return _marker("bytes", text)
            return _marker("base64", base64.b64encode(o).decode("ascii"))
        return super().default(o)


# allow_nan=False: NaN and Infinity are not JSON (PostgreSQL's jsonb refuses them).
_ENCODER = _Encoder(separators=(",", ":"), allow_nan=False)


def _uuid(value: Any) -> UUID:
    return UUID(value) if isinstance(value, str) else UUID(hex=value["hex"])


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": lambda v: datetime.fromisoformat(v).date(),  # as kombu reads it
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": _uuid,
    "timedelta": parse_duration,
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii"), validate=True),
    # A user's own dict whose keys are exactly a marker's, kept as its items (see _escaped).
    "dict": dict,
}


def _object_hook(o: dict) -> Any:
    if len(o) == 2 and o.keys() == MARKER_KEYS:
        decoder = _DECODERS.get(o["__type__"])
        if decoder is not None:
            try:
                value = decoder(o["__value__"])
            except (AttributeError, ArithmeticError, KeyError, TypeError, ValueError):
                return o  # not one of ours after all: kept as it is, never lost
            if value is not None:  # parse_duration gives None for text it cannot read
                return value
    return o


_DECODER = json.JSONDecoder(object_hook=_object_hook)
_PLAIN = json.JSONDecoder()


def _holds_marker_keys(value: Any) -> bool:
    """Does `value` hold a dict whose keys are exactly a marker's (one of the user's)?"""
    if isinstance(value, dict):
        if len(value) == 2 and value.keys() == MARKER_KEYS:
            return True
        return any(_holds_marker_keys(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_marker_keys(v) for v in value)
    return False


def _escaped(value: Any) -> Any:
    """
    `value` with each dict whose keys are exactly a marker's wrapped in a "dict" marker.

    Kombu would read such a dict as a marker (and raise for a type it does not know);
    wrapped, it comes back as the same dict.
    """
    if isinstance(value, dict):
        items = {k: _escaped(v) for k, v in value.items()}
        if len(items) == 2 and items.keys() == MARKER_KEYS:
            return _marker("dict", [[k, v] for k, v in items.items()])
        return items
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """
    Encode ``value`` as compact JSON text, with type markers for the values JSON lacks.

    Raises ``TypeError`` for a value of no supported type and ``ValueError`` for what no
    database stores as JSON: NaN or infinite floats (a ``Decimal('NaN')`` is fine: its
    marker holds the text "NaN"), text holding NUL or a lone surrogate, an int too long to
    print, nesting too deep to encode.
    """
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        raise ValueError("nested too deeply to encode") from None
    # NUL and lone surrogates leave the encoder as escapes (PostgreSQL's jsonb refuses both,
    # and a lone surrogate is no UTF-8 at all); a pair of surrogate escapes is one character.
    if ("\\u0000" in text or "\\ud" in text) and _unstorable_text(value):
        raise ValueError("text holding NUL or a lone surrogate cannot be stored")
    if _TYPE_KEY in text and _holds_marker_keys(value):
        text = _ENCODER.encode(_escaped(value))
    return text


def _unstorable_text(value: Any) -> bool:
    """Does `value` hold a string (or key) with NUL or a lone surrogate?"""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


def storable_text(text: str) -> str:
    """`text` as any database column stores it: NUL and lone surrogates escaped."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_repr(value: Any, limit: int = 1000) -> str:
    """``repr(value)``, cut to `limit` characters; never raises (a broken ``__repr__``)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__, or an int too long to print
        return f"<{type(value).__name__} (repr failed)>"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def decode(text: str | bytes | None) -> Any:
    """Decode JSON text written by ``dumps``: markers become the values they stand for."""
    if not isinstance(text, str):
        if text is None:
            return None
        text = bytes(text).decode("utf-8")
    if _TYPE_KEY not in text:
        return _PLAIN.decode(text)  # the common case: plain JSON, no hook to call per object
    return _DECODER.decode(text)


def revive(data: Any) -> Any:
    """
    Turn the markers in already parsed JSON (a ``JSONField``'s value) into their values.

    The same as ``decode`` on the text the data was parsed from.
    """
    if isinstance(data, dict):
        return _object_hook({k: revive(v) for k, v in data.items()})
    if isinstance(data, list):
        return [revive(v) for v in data]
    return data


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data, markers included: what a ``JSONField`` should store."""
    return json.loads(dumps(value))


def check_serializer(where: str, value: Any) -> None:
    """
    Raise ``ImproperlyConfigured`` unless `value` (a serializer name) is None or "json".

    `where` names the option or setting, e.g. ``"Task 'blog.tasks.spam' option 'serializer'"``.
    """
    if value is None or value == "json":
        return
    raise ImproperlyConfigured(
        f"{where} is {value!r}, but only 'json' is supported: messages are JSON in the "
        "database; pass ids or JSON values (datetime, Decimal, UUID, bytes, timedelta "
        "round-trip)."
    )


def _first_bad(value: Any, depth: int = 0) -> Any:
    """Return the innermost value that cannot be encoded (for the error message)."""
    if depth > 50:  # nested too deeply: the value itself says enough
        return value
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) and k is not None:
                return k
            if _fails(v):
                return _first_bad(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            if _fails(v):
                return _first_bad(v, depth + 1)
    return value


def _fails(value: Any) -> bool:
    try:
        dumps(value)
    except (TypeError, ValueError):
        return True
    return False


def encode_call(task_name: str, args: tuple, kwargs: dict, names: list[str] | None = None) -> tuple:
    """
    Check that ``args`` and ``kwargs`` encode as JSON and return them as the worker gets them.

    Round-trips through JSON, so what the worker receives is what the caller sees (tuples
    become lists; datetimes, Decimals, UUIDs, bytes and timedeltas stay what they are).
    Raises ``EncodeError`` naming the task and the argument (by parameter name when
    ``names`` gives it).
    """
    try:
        return decode(dumps([list(args), kwargs]))
    except (TypeError, ValueError):
        pass
    for i, value in enumerate(args):
        if _fails(value):
            param = names[i] if names and i < len(names) else f"#{i}"
            _raise(task_name, param, value)
    for key, value in kwargs.items():
        if _fails(value):
            _raise(task_name, key, value)
    raise EncodeError(f"Task {task_name!r} arguments are not JSON serializable.")


def encode_call_text(
    task_name: str, args: tuple, kwargs: dict, names: list[str] | None = None
) -> tuple[str, str]:
    """
    Encode ``args`` and ``kwargs`` as JSON text, once (the bulk enqueue path).

    The same check as ``encode_call`` and the same errors naming the argument, without
    decoding the text again: the queue stores exactly this text.
    """
    try:
        return dumps(list(args)), dumps(kwargs)
    except (TypeError, ValueError):
        encode_call(task_name, args, kwargs, names)  # raises the error naming the argument
        raise


def _raise(task_name: str, param: str, value: Any) -> None:
    bad = _first_bad(value)
    inner = "" if bad is value else f" (it holds {safe_repr(bad)})"
    raise EncodeError(
        f"Task {task_name!r} argument {param!r} is not JSON serializable: "
        f"{safe_repr(value)}{inner}; pass its id or a JSON value."
    )


def encode_result(task_name: str, value: Any) -> Any:
    """Return ``value`` as a caller reads it back; raise ``EncodeError`` naming the task."""
    try:
        return decode(dumps(value))
    except (TypeError, ValueError):
        bad = _first_bad(value)
        raise EncodeError(
            f"Task {task_name!r} returned a value that is not JSON serializable: {safe_repr(bad)}."
        ) from None


def exception_path(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """
    Describe ``exc`` as JSON: its type path, args and message.

    An argument JSON cannot hold is kept as its repr (as Celery does), so the exception
    rebuilt from it still says what went wrong.
    """
    try:
        args = decode(dumps(list(exc.args)))
    except (TypeError, ValueError):
        args = [_arg(a) for a in exc.args]
    return {"exc_type": exception_path(exc), "exc_args": args, "exc_message": _message(exc)}


def _arg(value: Any) -> Any:
    try:
        return decode(dumps(value))
    except (TypeError, ValueError):
        pass
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break the worker
        return f"<{type(value).__name__} (repr failed)>"


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break the worker
        return _unprintable(type(exc))


def _unprintable(cls: type) -> str:
    """The message stored for an exception whose ``__str__`` fails."""
    return repr(cls)


def format_traceback(exc: BaseException) -> str:
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))


def rebuild_exception(exc_type: str, exc_args: list | None, message: str) -> BaseException:
    """
    Return an exception of type ``exc_type`` built from ``exc_args``.

    ``exc_type`` is a builtin's name or ``module.Qualified.Name``. When the type cannot be
    imported (a class defined in a function), is not an exception, refuses the args, or
    cannot be printed once built from them when it could be in the worker (its ``__str__``
    expected the original objects, now their reprs), return a ``TaskError`` carrying the
    type name and message instead; never raises.
    """
    try:
        cls = _import_type(exc_type)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(exc_type)
        exc = cls(*(exc_args or []))
        if not isinstance(exc, BaseException):
            raise TypeError(exc_type)
        try:
            str(exc)
        except Exception:
            if message != _unprintable(cls):
                raise  # it printed in the worker: a TaskError says what it said
        return exc
    except Exception:
        return TaskError(exc_type, message)


def _import_type(path: str) -> Any:
    import builtins

    parts = path.split(".")
    if len(parts) == 1:
        return getattr(builtins, path)
    if "<locals>" in parts:
        raise ImportError(path)
    # The longest importable module prefix, then attributes (a class nested in a class).
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)
