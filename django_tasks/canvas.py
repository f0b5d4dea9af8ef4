"""Signatures, chains and groups: Celery's canvas over the queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from . import conf, eager, states
from .broker import codec
from .exceptions import ChordError
from .message import Message, new_task_id
from .registry import tasks as registry
from .result import AsyncResult, EagerResult, GroupResult
from .sending import build_message, from_signature, send
from .trace import errbacks


class Signature(dict):
    """
    One task call, not yet sent: task name, args, kwargs and call options.

    A ``dict`` (as Celery's is) so it travels as JSON in a message's options; ``sig | sig``
    makes a chain; calling ``.delay()``/``.apply_async()`` sends it.
    """

    def __init__(
        self,
        task: Any,
        args: tuple | list | None = (),
        kwargs: dict | None = None,
        options: dict | None = None,
        *,
        immutable: bool = False,
        **ex: Any,
    ) -> None:
        name = task if isinstance(task, str) else task.name
        # Celery's signature() takes call options as keywords too: countdown=10, queue=...
        ex.pop("type", None)
        ex.pop("subtask_type", None)
        ex.pop("app", None)
        super().__init__(
            task=name,
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            options={**(options or {}), **ex},
            immutable=immutable,
        )

    @classmethod
    def from_dict(cls, data: dict) -> Signature:
        if isinstance(data, Signature):
            return data
        return cls(
            data["task"],
            tuple(data.get("args") or ()),
            data.get("kwargs") or {},
            options=data.get("options") or {},
            immutable=bool(data.get("immutable")),
        )

    @property
    def task(self) -> str:
        return self["task"]

    @property
    def args(self) -> tuple:
        return tuple(self["args"])

    @property
    def kwargs(self) -> dict:
        return self["kwargs"]

    @property
    def options(self) -> dict:
        return self["options"]

    @property
    def immutable(self) -> bool:
        return self["immutable"]

    @property
    def type(self):
        """The registered task this signature calls (``NotRegistered`` if none here)."""
        return registry[self.task]

    def set(self, **options: Any) -> Signature:
        """Set call options (queue, countdown, ...) on this signature; return it."""
        self["options"].update(options)
        return self

    def clone(self, args: tuple = (), kwargs: dict | None = None, **options: Any) -> Signature:
        """A copy with `args` prepended (unless immutable) and kwargs/options merged."""
        new_args = self.args if self.immutable else (*args, *self.args)
        return Signature(
            self.task,
            new_args,
            {**self.kwargs, **(kwargs or {})},
            options={**self.options, **options},
            immutable=self.immutable,
        )

    def link(self, callback: Signature) -> Signature:
        self["options"].setdefault("link", []).append(dict(callback))
        return callback

    def link_error(self, errback: Signature) -> Signature:
        self["options"].setdefault("link_error", []).append(dict(errback))
        return errback

    def apply_async(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """
        Send the call (with `args` prepended unless immutable).

        A task not registered in this process is sent by name (as ``app.send_task``).
        """
        sig = self.clone(args, kwargs, **options)
        task = registry.get(sig.task)
        if task is None:
            return send_by_name(sig.task, sig.args, sig.kwargs, **sig.options)
        return task.apply_async(sig.args, sig.kwargs, **sig.options)

    def delay(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def apply(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        sig = self.clone(args, kwargs, **options)
        return sig.type.apply(sig.args, sig.kwargs, **sig.options)

    def __call__(self, *args: Any, **kwargs: Any):
        """Run the task inline with these arguments added (Celery's ``sig()``)."""
        sig = self.clone(args, kwargs)
        return sig.type(*sig.args, **sig.kwargs)

    def __or__(self, other: Any) -> chain:
        if isinstance(other, chain):
            return chain(self, *other.tasks)
        if isinstance(other, Signature | group | chord):
            return chain(self, other)
        return NotImplemented

    def to_message(self, prepend: tuple = (), **options: Any) -> Message:
        """The message this signature sends, with `prepend` before its args (unless immutable)."""
        return from_signature(self, prepend, **options)

    def __repr__(self) -> str:
        args = ", ".join([*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{self.task}({args}){'!' if self.immutable else ''}"


signature = Signature


def send_by_name(name: str, args: Any = None, kwargs: Any = None, **options: Any):
    """
    Send a call of the task `name` (it need not be importable here); return its result.

    Checked as far as a name allows (options, JSON); never run eagerly, as Celery's
    ``send_task``.
    """
    on_commit = options.pop("on_commit", None)
    using = options.pop("using", None) or conf.get("DATABASE")
    message = build_message(name, tuple(args or ()), kwargs or {}, call="send_task()", **options)
    send([message], using=using, on_commit=on_commit)
    return AsyncResult(message.id, task_name=name, using=using)


class chain:  # noqa: N801 - Celery's name
    """
    Run signatures one after another, each receiving the previous result first.

    The next task is enqueued in the same transaction that records the previous task's
    success, so a crash never runs it twice or drops it.
    """

    def __init__(self, *tasks: Any) -> None:
        if (
            len(tasks) == 1
            and not isinstance(tasks[0], dict | group | chord)
            and isinstance(tasks[0], Iterable)
        ):
            tasks = tuple(tasks[0])
        if not tasks:
            raise ValueError("chain() needs at least one signature.")
        tasks = list(tasks)
        # A group followed by a task is a chord, as in Celery: chain(group(...), cb).
        if isinstance(tasks[0], group) and len(tasks) > 1:
            tasks[:2] = [chord(tasks[0], _as_signature(tasks[1]))]
        self.head: chord | None = tasks[0] if isinstance(tasks[0], chord) else None
        rest = tasks[1:] if self.head is not None else tasks
        for t in rest:
            if isinstance(t, group | chord):
                raise TypeError(
                    f"chain(): a {type(t).__name__} can only come first in a chain (a group "
                    f"followed by a task is a chord); {t!r} comes after a task. Send it from "
                    "a task instead (return its result, or call replace() with it)."
                )
        self.tasks = tuple(_as_signature(t) for t in rest)
        if self.head is not None and self.head.body is None and not self.tasks:
            raise TypeError("chain(): a chord needs a callback.")

    def __or__(self, other: Any) -> chain:
        own = [self.head, *self.tasks] if self.head is not None else list(self.tasks)
        if isinstance(other, chain):
            return chain(*own, *other.tasks)
        if isinstance(other, Signature):
            return chain(*own, other)
        if isinstance(other, group | chord):
            return chain(*own, other)  # raises: not after a task
        return NotImplemented

    def _prepared(self, args: tuple, kwargs: dict | None) -> list[Signature]:
        sigs = [s.clone() for s in self.tasks]
        sigs[0] = sigs[0].clone(args, kwargs)
        for s in sigs:
            s["options"].setdefault("task_id", new_task_id())
        root = sigs[0].options["task_id"]
        for s in sigs[1:]:
            s["options"]["root_id"] = root
        return sigs

    def apply_async(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """Send the first task; return the last task's result, whose ``.parent`` walks back."""
        if self.head is not None:
            # chord | task | ...: the rest of the chain follows the chord's callback.
            steps = [s.clone() for s in self._after_head()]
            for s in steps:
                s["options"].setdefault("task_id", new_task_id())
            cb = steps[0]
            if len(steps) > 1:
                cb["options"]["chain"] = [dict(s) for s in steps[1:]]
            result = chord(self.head.header, cb).apply_async(args, kwargs, **options)
            for s in steps[1:]:
                result = AsyncResult(s.options["task_id"], task_name=s.task, parent=result)
            return result
        sigs = self._prepared(args, kwargs)
        first = sigs[0]
        rest = [dict(s) for s in sigs[1:]]
        first_opts = {**first.options, **options}
        if rest:
            first_opts["chain"] = rest
        Signature(first.task, first.args, first.kwargs, options=first_opts).apply_async()
        result = None
        for s in sigs:
            result = AsyncResult(s.options["task_id"], task_name=s.task, parent=result)
        return result

    def _after_head(self) -> list[Signature]:
        """The chord's callback and the tasks after it (a chain that starts with a chord)."""
        body = [self.head.body] if self.head.body is not None else []
        return [*body, *self.tasks]

    def _member(
        self, args: tuple, kwargs: dict | None, last: dict[str, Any], **options: Any
    ) -> tuple[Message, AsyncResult]:
        """
        A chord header member that is a chain: the message of its first task, and the result
        of its last, which carries `last` (the chord membership) and counts for the chord.
        """
        if self.head is not None:
            raise TypeError("chord(): a chain that starts with a chord cannot be in a header.")
        sigs = self._prepared(args, kwargs)
        sigs[-1]["options"].update(last)
        first = sigs[0]
        opts = {**first.options, **options}
        if len(sigs) > 1:
            opts["chain"] = [dict(s) for s in sigs[1:]]
        last_id = sigs[-1].options["task_id"]
        return first.to_message(**opts), AsyncResult(last_id, task_name=sigs[-1].task)

    def delay(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def apply(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        if self.head is not None:
            steps = self._after_head()
            first = chord(self.head.header, steps[0]).apply(args, kwargs)
            if first.failed() or len(steps) == 1:
                return first
            return chain(*steps[1:]).apply((first.get(propagate=False),))
        sigs = self._prepared(args, kwargs)
        result = None
        for i, s in enumerate(sigs):
            sig = s if i == 0 else s.clone((result.get(),))
            result = sig.type.apply(sig.args, sig.kwargs, task_id=sig.options["task_id"])
            if result.failed():
                break
        return result

    def __repr__(self) -> str:
        own = [self.head, *self.tasks] if self.head is not None else self.tasks
        return " | ".join(map(repr, own))


class group:  # noqa: N801 - Celery's name
    """Run signatures in parallel; the ``GroupResult`` collects all their results."""

    def __init__(self, *tasks: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
            tasks = tuple(tasks[0])
        self.tasks = tuple(Signature.from_dict(t) if isinstance(t, dict) else t for t in tasks)

    def apply_async(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """
        Send every signature in one statement per batch; return a ``GroupResult``.

        With ``ALWAYS_EAGER`` every member runs here, as ``apply()``.
        """
        if eager.is_eager():
            options.pop("on_commit", None)
            options.pop("using", None)
            return self.apply(args, kwargs, **options)
        group_id = options.pop("group_id", None) or str(uuid.uuid4())
        on_commit = options.pop("on_commit", None)
        using = options.pop("using", None) or conf.get("DATABASE")
        messages = []
        results = []
        for i, item in enumerate(self.tasks):
            if isinstance(item, chain):
                results.append(
                    item.apply_async(args, kwargs, group_id=group_id, using=using, **options)
                )
                continue
            sig = item.clone(args, kwargs, **options)
            sig["options"]["group_id"] = group_id
            sig["options"].setdefault("headers", {})["group_index"] = i
            msg = sig.to_message()
            messages.append(msg)
            results.append(AsyncResult(msg.id, task_name=msg.name, using=using))
        send(messages, using=using, on_commit=on_commit)
        return GroupResult(group_id, results)

    def delay(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def apply(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """Run every member here, in order; return their ``GroupResult``."""
        group_id = options.pop("group_id", None) or str(uuid.uuid4())
        return GroupResult(group_id, [s.clone(args, kwargs).apply(**options) for s in self.tasks])

    def __len__(self) -> int:
        return len(self.tasks)

    def __or__(self, other: Any) -> chord | chain:
        """``group(...) | callback`` is a chord, as in Celery."""
        if isinstance(other, chain):
            return chain(self, *other.tasks)
        if isinstance(other, Signature):
            return chord(self, other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"group([{', '.join(map(repr, self.tasks))}])"


def _as_signature(item: Any) -> Signature:
    """A signature from a signature, its dict form, or a task (``add`` means ``add.s()``)."""
    if isinstance(item, Signature):
        return item
    if isinstance(item, dict):
        return Signature.from_dict(item)
    if hasattr(item, "s"):
        return item.s()
    raise TypeError(f"Expected a signature, not {item!r}.")


class chord:  # noqa: N801 - Celery's name
    """
    A group (the header) whose results, in header order, go to one callback (the body).

    ``chord(header)(callback)``, ``chord(header, body).apply_async()``, ``group | callback``
    and ``chain(group, callback)`` build one. Each member's final outcome is counted in the
    transaction that records it; the member that finishes last sends the callback, exactly
    once, whatever workers die meanwhile. A member that does not succeed makes the callback
    FAILURE with ``ChordError("Dependency <id> raised <exception>")`` (Celery's rule) once
    every member has finished, and runs the callback's errbacks. Members keep their result
    (the callback needs it) even with ``ignore_result``.
    """

    def __init__(self, header: Any, body: Any = None, **options: Any) -> None:
        self.header = header if isinstance(header, group) else group(header)
        self.body = None if body is None else _as_signature(body)
        self.options = options

    @property
    def tasks(self) -> tuple:
        return self.header.tasks

    def __call__(self, body: Any = None, **options: Any):
        """``chord(header)(callback)``: send it with `body` as the callback."""
        return self.apply_async((), {}, body=body, **options)

    def delay(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def __or__(self, other: Any) -> chain:
        if isinstance(other, Signature | chain):
            return chain(self, *(other.tasks if isinstance(other, chain) else [other]))
        return NotImplemented

    def _callback(self, body: Any) -> Signature:
        body = self.body if body is None else _as_signature(body)
        if body is None:
            raise TypeError(
                "chord() needs a callback: chord(header)(callback) or chord(header, body)."
            )
        return body

    def apply_async(
        self, args: tuple = (), kwargs: dict | None = None, body: Any = None, **options: Any
    ) -> AsyncResult:
        """
        Send the header and register the callback; return the callback's ``AsyncResult``
        (its ``.parent`` is the header's ``GroupResult``).

        `args`/`kwargs` go to every header member; `options` (``task_id``, ``queue``, ...)
        are the callback's, as in Celery. With ``ALWAYS_EAGER`` everything runs here.
        """
        body = self._callback(body)
        options = {**self.options, **options}
        if eager.is_eager():
            options.pop("on_commit", None)
            options.pop("using", None)
            return self.apply(args, kwargs, body=body, **options)
        on_commit = options.pop("on_commit", None)
        using = options.pop("using", None) or conf.get("DATABASE")
        group_id = options.pop("group_id", None) or str(uuid.uuid4())
        body = body.clone(**options)
        body["options"].setdefault("task_id", new_task_id())
        # Built now, with a stand-in for the results, so a bad callback fails here.
        callback = body.to_message(([],))
        membership = {"group_id": group_id, "chord": dict(body), "ignore_result": False}
        messages, results = [], []
        for i, item in enumerate(self.header.tasks):
            last = {**membership, "headers": {"group_index": i}}
            if isinstance(item, chain):
                msg, result = item._member(args, kwargs, last)
            elif isinstance(item, group | chord):
                raise TypeError(f"chord(): a {type(item).__name__} cannot be a header member.")
            else:
                sig = _as_signature(item).clone(args, kwargs)
                headers = {**(sig.options.get("headers") or {}), "group_index": i}
                msg = sig.to_message(**{**membership, "headers": headers})
                result = AsyncResult(msg.id, task_name=msg.name, using=using)
            messages.append(msg)
            results.append(result)
        header = GroupResult(group_id, results)
        if not messages:  # an empty header: the callback runs at once with no results
            send([callback], using=using, on_commit=on_commit)
            return AsyncResult(callback.id, task_name=callback.name, using=using, parent=header)
        # Stored without the stand-in: the results go first when the chord completes.
        stored = callback if body.immutable else replace(callback, args=callback.args[1:])
        spec = {
            "message": codec.message_to_json(stored),
            "immutable": body.immutable,
            "errbacks": [codec.message_to_json(m) for m in errbacks(callback)],
        }
        send(
            messages,
            using=using,
            on_commit=on_commit,
            write=lambda batch, broker: broker.enqueue_chord(
                group_id, batch, [r.id for r in results], spec
            ),
        )
        return AsyncResult(callback.id, task_name=callback.name, using=using, parent=header)

    def apply(
        self, args: tuple = (), kwargs: dict | None = None, body: Any = None, **options: Any
    ) -> EagerResult:
        """
        Run the header here, then the callback with the results; a failed member makes the
        callback's result a FAILURE with ``ChordError``, as in a worker.
        """
        body = self._callback(body)
        header = self.header.apply(args, kwargs)
        for r in header.results:
            if not r.successful():
                from .message import Outcome

                text = f"Dependency {r.id} raised {_exc_repr(r)}"
                failed = Outcome(
                    id=body.options.get("task_id") or new_task_id(),
                    state=states.FAILURE,
                    result={"exc_type": "django_tasks.exceptions.ChordError", "exc_args": [text]},
                    exc_type="django_tasks.exceptions.ChordError",
                    exc_message=text,
                )
                result = EagerResult(failed.id, failed, task_name=body.task)
                if conf.get("EAGER_PROPAGATES"):
                    raise ChordError(text)
                return result
        values = [r.get(propagate=False) for r in header.results]
        result = body.clone(**options).apply((values,))
        result.parent = header
        return result

    def __repr__(self) -> str:
        body = f", {self.body!r}" if self.body is not None else ""
        return f"chord({self.header!r}{body})"


def _exc_repr(result: AsyncResult) -> str:
    """``Type('arg', ...)`` of a failed eager result (Celery's ChordError text)."""
    try:
        exc = result.get(propagate=False)
    except Exception as error:  # a result that cannot be rebuilt: its error as raised
        exc = error
    return repr(exc) if isinstance(exc, BaseException) else f"{result.state}({exc!r})"


def chunks(task: Any, it: Iterable, n: int) -> group:
    """Split calls of `task` over `it` into groups of `n` calls per message (Celery's chunks)."""
    items = list(it)
    starmap = registry["django_tasks.starmap"]
    return group(starmap.s(task.name, items[i : i + n]) for i in range(0, len(items), n))
