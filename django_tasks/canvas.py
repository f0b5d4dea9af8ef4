"""Signatures, chains and groups: Celery's canvas over the queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from . import conf, eager
from .message import Message, new_task_id
from .registry import tasks as registry
from .result import AsyncResult, GroupResult
from .sending import build_message, from_signature, send


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
        if isinstance(other, Signature):
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
        if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
            tasks = tuple(tasks[0])
        self.tasks = tuple(Signature.from_dict(t) if isinstance(t, dict) else t.s() for t in tasks)
        if not self.tasks:
            raise ValueError("chain() needs at least one signature.")

    def __or__(self, other: Any) -> chain:
        if isinstance(other, chain):
            return chain(*self.tasks, *other.tasks)
        if isinstance(other, Signature):
            return chain(*self.tasks, other)
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

    def delay(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any):
        return self.apply_async(args, kwargs)

    def apply(self, args: tuple = (), kwargs: dict | None = None, **options: Any):
        sigs = self._prepared(args, kwargs)
        result = None
        for i, s in enumerate(sigs):
            sig = s if i == 0 else s.clone((result.get(),))
            result = sig.type.apply(sig.args, sig.kwargs, task_id=sig.options["task_id"])
            if result.failed():
                break
        return result

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.tasks))


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


def chunks(task: Any, it: Iterable, n: int) -> group:
    """Split calls of `task` over `it` into groups of `n` calls per message (Celery's chunks)."""
    items = list(it)
    starmap = registry["django_tasks.starmap"]
    return group(starmap.s(task.name, items[i : i + n]) for i in range(0, len(items), n))
