"""The JSON wire format of arguments, results and exceptions."""

from __future__ import annotations

import importlib
import json
import traceback as tb
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .exceptions import EncodeError, TaskError


class _StrictEncoder(DjangoJSONEncoder):
    """Django's encoder (datetimes, Decimal, UUID, lazy strings) and nothing more."""


def dumps(value: Any) -> str:
    """Encode ``value`` as JSON text with Django's encoder."""
    return json.dumps(value, cls=_StrictEncoder, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text)


def _first_bad(value: Any) -> Any:
    """Return the innermost value that cannot be encoded (for the error message)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) and k is not None:
                return k
            if _fails(v):
                return _first_bad(v)
    elif isinstance(value, list | tuple):
        for v in value:
            if _fails(v):
                return _first_bad(v)
    return value


def _fails(value: Any) -> bool:
    try:
        dumps(value)
    except (TypeError, ValueError):
        return True
    return False


def encode_call(task_name: str, args: tuple, kwargs: dict, names: list[str] | None = None) -> tuple:
    """
    Check that ``args`` and ``kwargs`` encode as JSON and return them as JSON-ready values.

    Round-trips through JSON, so what the worker receives is what the caller sees (tuples
    become lists, datetimes ISO strings). Raises ``EncodeError`` naming the task and the
    argument (by parameter name when ``names`` gives it).
    """
    try:
        return json.loads(dumps([list(args), kwargs]))
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
    inner = "" if bad is value else f" (it holds {bad!r})"
    raise EncodeError(
        f"Task {task_name!r} argument {param!r} is not JSON serializable: {value!r}{inner}; "
        "pass its id or a JSON value."
    )


def encode_result(task_name: str, value: Any) -> Any:
    """Return ``value`` as a JSON-ready value; raise ``EncodeError`` naming the task."""
    try:
        return json.loads(dumps(value))
    except (TypeError, ValueError):
        bad = _first_bad(value)
        raise EncodeError(
            f"Task {task_name!r} returned a value that is not JSON serializable: {bad!r}."
        ) from None


def exception_path(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """Describe ``exc`` as JSON: its type path, args (where JSON allows) and message."""
    try:
        args = json.loads(dumps(list(exc.args)))
    except (TypeError, ValueError):
        args = [str(a) for a in exc.args]
    return {"exc_type": exception_path(exc), "exc_args": args, "exc_message": _message(exc)}


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break the worker
        return repr(type(exc))


def format_traceback(exc: BaseException) -> str:
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))


def rebuild_exception(exc_type: str, exc_args: list | None, message: str) -> BaseException:
    """
    Return an exception of type ``exc_type`` built from ``exc_args``.

    ``exc_type`` is a builtin's name or ``module.Qualified.Name``. When the type cannot be
    imported (a class defined in a function), is not an exception, or refuses the args,
    return a ``TaskError`` carrying the type name and message instead; never raises.
    """
    try:
        cls = _import_type(exc_type)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(exc_type)
        exc = cls(*(exc_args or []))
        if not isinstance(exc, BaseException):
            raise TypeError(exc_type)
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
