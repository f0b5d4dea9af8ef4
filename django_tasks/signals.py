"""
Celery's signals, by Celery's names and with Celery's arguments (``celery.signals``).

``@task_prerun.connect`` works as a decorator, bare or with ``sender=``, and returns the
function. Receivers are held by strong references unless ``weak=True`` is asked for, so a
handler defined inside a function is not silently collected. ``send`` calls every receiver
even when one raises (Celery's rule): the error is logged and returned in its place.

Which process sends each signal, and when, is in the README ("Signals").
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger("django_tasks.signals")

__all__ = [
    "Signal",
    "before_task_publish",
    "after_task_publish",
    "task_received",
    "task_prerun",
    "task_postrun",
    "task_success",
    "task_failure",
    "task_retry",
    "task_revoked",
    "task_unknown",
    "task_rejected",
    "task_internal_error",
    "import_modules",
    "celeryd_init",
    "celeryd_after_setup",
    "worker_init",
    "worker_before_create_process",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "heartbeat_sent",
    "worker_shutting_down",
    "worker_shutdown",
    "setup_logging",
    "after_setup_logger",
    "after_setup_task_logger",
    "beat_init",
    "beat_embedded_init",
]


def _sender_key(sender: Any) -> Any:
    # Strings match by value, as in Celery: after_task_publish's sender is the task name, and
    # connect(sender="proj.tasks.add") must match a name built at run time.
    if isinstance(sender, str | bytes):
        return sender
    return id(sender)


def _receiver_key(receiver: Callable) -> Any:
    if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
        return (id(receiver.__self__), id(receiver.__func__))
    return id(receiver)


def _accepts_kwargs(receiver: Callable) -> bool:
    try:
        parameters = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):
        return True  # a builtin or C callable: nothing to check
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


_NONE_KEY = _sender_key(None)


class Signal:
    """
    A signal receivers connect to (Celery's ``celery.utils.dispatch.Signal``).

    ``providing_args`` documents the keyword arguments ``send`` passes; ``name`` is the
    signal's name in logs and ``repr``.
    """

    def __init__(
        self,
        providing_args: Iterable[str] | None = None,
        use_caching: bool = False,
        name: str | None = None,
    ) -> None:
        self.name = name
        self.providing_args = frozenset(providing_args or ())
        self.use_caching = use_caching  # accepted for Celery's signature; lookups are cheap
        #: ``[((receiver key, sender key), receiver or weak reference)]``, in connect order.
        self.receivers: list[tuple[tuple[Any, Any], Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"

    __str__ = __repr__

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        """
        Connect a receiver: ``sig.connect(fun)``, ``@sig.connect`` or ``@sig.connect(sender=x)``.

        ``connect(receiver, sender=None, weak=False, dispatch_uid=None)``. Returns the
        receiver (or, called without one, a decorator that connects and returns it). A
        receiver connected twice with the same key (receiver or ``dispatch_uid``, and
        sender) is called once. ``weak=True`` holds a weak reference, as Celery and Django
        do by default.
        """
        if args and callable(args[0]):
            return self._options(*args[1:], **kwargs)(args[0])
        return self._options(*args, **kwargs)

    def _options(
        self, sender: Any = None, weak: bool = False, dispatch_uid: Any = None
    ) -> Callable[[Callable], Callable]:
        def connect(receiver: Callable) -> Callable:
            self._connect(receiver, sender, weak, dispatch_uid)
            return receiver

        return connect

    def _connect(self, receiver: Callable, sender: Any, weak: bool, dispatch_uid: Any) -> None:
        if not callable(receiver):
            raise TypeError(f"Signal {self.name} receiver {receiver!r} is not callable.")
        if not _accepts_kwargs(receiver):
            raise ValueError(
                f"Signal {self.name} receiver {receiver!r} must accept keyword arguments; "
                "add **kwargs to its parameters."
            )
        key = (dispatch_uid or _receiver_key(receiver), _sender_key(sender))
        ref: Any = receiver
        if weak:
            if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
                ref = weakref.WeakMethod(receiver, self._forget_dead)
            else:
                ref = weakref.ref(receiver, self._forget_dead)
        with self._lock:
            if not any(k == key for k, _ in self.receivers):
                self.receivers.append((key, ref))

    def _forget_dead(self, ref: Any) -> None:
        with self._lock:
            self.receivers = [(k, r) for k, r in self.receivers if r is not ref]

    def disconnect(
        self,
        receiver: Callable | None = None,
        sender: Any = None,
        weak: Any = None,
        dispatch_uid: Any = None,
    ) -> bool:
        """Disconnect a receiver (or the one of `dispatch_uid`) from `sender`; True if it was."""
        key = (dispatch_uid or _receiver_key(receiver), _sender_key(sender))
        with self._lock:
            kept = [(k, r) for k, r in self.receivers if k != key]
            found = len(kept) != len(self.receivers)
            self.receivers = kept
        return found

    def _live_receivers(self, sender: Any) -> list[Callable]:
        wanted = _sender_key(sender)
        with self._lock:
            entries = list(self.receivers)
        live = []
        for (_, sender_key), ref in entries:
            if sender_key != _NONE_KEY and sender_key != wanted:
                continue
            receiver = ref() if isinstance(ref, weakref.ref) else ref
            if receiver is not None:
                live.append(receiver)
        return live

    def has_listeners(self, sender: Any = None) -> bool:
        """Would ``send(sender)`` call any receiver?"""
        return bool(self._live_receivers(sender))

    def send(self, sender: Any = None, **named: Any) -> list[tuple[Callable, Any]]:
        """
        Call every receiver of `sender` with ``signal=``, ``sender=`` and `named`.

        Returns ``[(receiver, response), ...]``; a receiver that raised is logged at ERROR
        with its traceback and its exception is its response (Celery's ``send``; Django's
        ``send_robust``), so one broken handler never stops the others or the worker.
        """
        if not self.receivers:
            return []
        responses = []
        for receiver in self._live_receivers(sender):
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as exc:
                logger.error(
                    "signal %s receiver %r raised %r", self.name, receiver, exc, exc_info=exc
                )
                response = exc
            responses.append((receiver, response))
        return responses

    send_robust = send


def _signal(name: str, *args: str) -> Signal:
    return Signal(providing_args=args, name=name)


# -- task signals ------------------------------------------------------------------------------
#: Before a message is written; sender = the task name. Sent by the sending process.
before_task_publish = _signal(
    "before_task_publish",
    "body",
    "exchange",
    "routing_key",
    "headers",
    "properties",
    "declare",
    "retry_policy",
)
#: After a message was written (at commit inside ``atomic()``); sender = the task name.
after_task_publish = _signal("after_task_publish", "body", "exchange", "routing_key", "headers")
#: A worker claimed the message; sender = the consumer, ``request`` = the task's request.
task_received = _signal("task_received", "request")
#: Before a body runs; sender = the task.
task_prerun = _signal("task_prerun", "task_id", "task", "args", "kwargs")
#: After a body ran, whatever its outcome; sender = the task.
task_postrun = _signal("task_postrun", "task_id", "task", "args", "kwargs", "retval", "state")
#: The task succeeded; sender = the task.
task_success = _signal("task_success", "result")
#: The task failed; sender = the task.
task_failure = _signal(
    "task_failure", "task_id", "exception", "args", "kwargs", "traceback", "einfo"
)
#: The task will be retried; sender = the task.
task_retry = _signal("task_retry", "request", "reason", "einfo")
#: The task was revoked, expired or terminated; sender = the task.
task_revoked = _signal("task_revoked", "request", "terminated", "signum", "expired")
#: A claimed message names no registered task; sender = the consumer.
task_unknown = _signal("task_unknown", "name", "id", "message", "exc")
#: A claimed message cannot be decoded; sender = the consumer.
task_rejected = _signal("task_rejected", "message", "exc")
#: The worker failed around a task, outside its body; sender = the task.
task_internal_error = _signal(
    "task_internal_error",
    "task_id",
    "args",
    "kwargs",
    "request",
    "exception",
    "traceback",
    "einfo",
)

# -- app signals -------------------------------------------------------------------------------
#: Before the task modules are imported; sender = the app.
import_modules = _signal("import_modules")

# -- worker signals ----------------------------------------------------------------------------
#: The first signal of ``runtasks``; sender = the host name (``-n``).
celeryd_init = _signal("celeryd_init", "instance", "conf", "options")
#: The worker is set up (queues, logging) and about to run; sender = the host name.
celeryd_after_setup = _signal("celeryd_after_setup", "instance", "conf")
#: Before the worker starts; sender = the worker.
worker_init = _signal("worker_init")
#: In the supervisor, just before it forks a prefork child; sender = the worker.
worker_before_create_process = _signal("worker_before_create_process")
#: In each pool process when it starts (each prefork child; the process itself for
#: threads and solo).
worker_process_init = _signal("worker_process_init")
#: In each pool process just before it exits.
worker_process_shutdown = _signal("worker_process_shutdown", "pid", "exitcode")
#: The worker serves: its consumers are started; sender = the worker.
worker_ready = _signal("worker_ready")
#: After each heartbeat the supervisor writes; sender = the worker.
heartbeat_sent = _signal("heartbeat_sent")
#: SIGTERM/SIGINT received; sender = the host name.
worker_shutting_down = _signal("worker_shutting_down", "sig", "how", "exitcode")
#: The worker is about to exit; sender = the worker.
worker_shutdown = _signal("worker_shutdown")

# -- logging signals ---------------------------------------------------------------------------
#: Connected means the worker leaves logging (and stdout redirection) to its receivers.
setup_logging = _signal("setup_logging", "loglevel", "logfile", "format", "colorize")
#: After the worker set up its logger (``django_tasks``).
after_setup_logger = _signal(
    "after_setup_logger", "logger", "loglevel", "logfile", "format", "colorize"
)
#: After the worker set up the task logger (``django_tasks.task``).
after_setup_task_logger = _signal(
    "after_setup_task_logger", "logger", "loglevel", "logfile", "format", "colorize"
)

# -- beat signals ------------------------------------------------------------------------------
#: When the periodic scheduler starts in a worker; sender = the scheduler.
beat_init = _signal("beat_init")
#: Sent with ``beat_init``: the scheduler always runs embedded in ``runtasks``.
beat_embedded_init = _signal("beat_embedded_init")


class UnsupportedSignal:
    """A Celery signal with no counterpart here: importable, but connecting to it raises."""

    def __init__(self, name: str, instead: str) -> None:
        self.name = name
        self.instead = instead

    def __repr__(self) -> str:
        return f"<UnsupportedSignal: {self.name}>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Signal {self.name} is never sent here: {self.instead}.")

    connect = disconnect = send = send_robust = _refuse


_NO_EVENTLET = "there is no eventlet pool (pools: prefork, threads, solo); use {}"
eventlet_pool_started = UnsupportedSignal(
    "eventlet_pool_started", _NO_EVENTLET.format("worker_ready")
)
eventlet_pool_preshutdown = UnsupportedSignal(
    "eventlet_pool_preshutdown", _NO_EVENTLET.format("worker_shutting_down")
)
eventlet_pool_postshutdown = UnsupportedSignal(
    "eventlet_pool_postshutdown", _NO_EVENTLET.format("worker_shutdown")
)
eventlet_pool_apply = UnsupportedSignal("eventlet_pool_apply", _NO_EVENTLET.format("task_prerun"))
user_preload_options = UnsupportedSignal(
    "user_preload_options",
    "runtasks is a Django command; add options to a management command of your own",
)
task_sent = UnsupportedSignal("task_sent", "Celery deprecated it; use after_task_publish")
