"""
The worker process tree: a supervisor and its consumers (prefork children, threads or solo).

The supervisor never runs tasks. It starts consumers, writes one heartbeat for all of them,
enforces hard time limits, terminates revoked tasks, replaces consumers that exit or die
(handling a dead child's task at once), recovers the rows of workers whose heartbeat
stopped, and turns signals into warm and cold shutdowns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from django.db import connections

from .. import conf, signals, states
from ..log import setup_logging_subsystem
from ..message import Outcome
from .beat import Beat
from .consumer import Consumer, ConsumerConfig
from .maintenance import DeadWorkerRecovery
from .slots import Slot, SlotFile, database_key, slot_path
from .stdouts import redirect_stdouts
from .wakeup import WakePipe, Waker

logger = logging.getLogger("django_tasks.worker")

POOLS = ("prefork", "threads", "solo")
#: A child's exit code when it asks to be replaced (max tasks or memory per child).
EXIT_REPLACE = 75
#: PR_SET_PDEATHSIG (linux/prctl.h): a signal delivered to the child when its parent dies.
_PR_SET_PDEATHSIG = 1
#: How often the supervisor looks at its children, limits and signals.
TICK = 0.1
#: How often it asks the database whether a running task was revoked with terminate.
REVOKE_CHECK = 1.0


@dataclass
class _Child:
    index: int
    pid: int
    name: str
    started: float
    reason: str = ""


@dataclass
class Supervisor:
    """
    A ``runtasks`` worker's supervisor: ``Supervisor(app, concurrency=2).run()`` serves
    until stopped. (Its rows in the database are ``models.Worker``, one per process.)

    Returns the process exit code from ``run()``: 0 after a warm shutdown or a finished
    burst.
    """

    app: object
    concurrency: int | None = None
    queues: list[str] = field(default_factory=list)
    pool: str = "prefork"
    burst: bool = False
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    hostname: str | None = None
    using: str | None = None
    #: The level of the ``django_tasks`` loggers (``-l``); see ``log.setup_logging_subsystem``.
    loglevel: str = "INFO"
    #: Take part in sending periodic tasks (``--without-beat``: False; burst workers never do).
    beat: bool = True

    def __post_init__(self) -> None:
        from ..broker import get_broker

        conf.check()
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}.")
        self.hostname = self.hostname or socket.gethostname()
        # Celery's first signal: only the app and the host name are set on the instance yet.
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "app"}
        signals.celeryd_init.send(
            sender=self.hostname, instance=self, conf=self.app.conf, options=options
        )
        self.concurrency = self.concurrency or os.cpu_count() or 1
        if self.pool == "solo":
            self.concurrency = 1
        self.queues = self.queues or [conf.get("DEFAULT_QUEUE")]
        self.max_tasks_per_child = self.max_tasks_per_child or conf.get("MAX_TASKS_PER_CHILD")
        self.max_memory_per_child = self.max_memory_per_child or conf.get("MAX_MEMORY_PER_CHILD")
        self.time_limit = self.time_limit or conf.get("TIME_LIMIT")
        self.soft_time_limit = self.soft_time_limit or conf.get("SOFT_TIME_LIMIT")
        self.broker = get_broker(self.using)
        self.name = f"{self.hostname}.{os.getpid()}"
        self._stop = 0  # 0 running, 1 warm, 2 cold
        self._restart = False
        self._children: dict[int, _Child] = {}
        self._done = False
        self.recovery = DeadWorkerRecovery(
            self.broker, self.hostname, conf.get("HEARTBEAT_TIMEOUT")
        )
        self.slots = SlotFile(
            slot_path(database_key(connections[self.broker.using].settings_dict), self.name),
            self.name,
            self.concurrency,
        )
        self._consumers: list[Consumer] = []
        # Periodic entries are checked now: a bad one stops the worker before it starts.
        self.beat = (
            Beat(self.app, self.broker.using, self.name) if self.beat and not self.burst else None
        )
        signals.worker_init.send(sender=self)
        #: Did a setup_logging receiver take logging over (then stdout is not redirected)?
        self.custom_logging = setup_logging_subsystem(self.loglevel)

    # -- entry ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; return 0 after a warm shutdown or burst, 1 after a cold one."""
        self._install_signals()
        # Receivers may still change the queues here (Celery's use of this signal).
        signals.celeryd_after_setup.send(sender=self.hostname, instance=self, conf=self.app.conf)
        if not self._register_supervisor():
            self.slots.remove()
            logger.info("worker name=%s event=stop before-start", self.name)
            # A burst run that never reached the database did not drain anything.
            return 1 if self.burst and not self._stop else 0
        logger.info(
            "worker name=%s event=start pool=%s concurrency=%d queues=%s",
            self.name,
            self.pool,
            self.concurrency,
            ",".join(self.queues),
        )
        # The only listening connection: consumers are woken through the pipe, one each.
        self.wake_pipe = WakePipe()
        self.waker = Waker(self.broker, self.queues, self.wake_pipe, self.name)
        self._wake_thread: threading.Thread | None = None
        try:
            if self.pool == "prefork":
                self._run_prefork()
            else:
                self._run_in_process()
        finally:
            signals.worker_shutdown.send(sender=self)
            if self._wake_thread is not None:
                self._wake_thread.join(timeout=5)  # it closes its listener itself
            self.waker.close()
            self.wake_pipe.close()
            self._unregister()
            self.slots.remove()
        logger.info("worker name=%s event=stop", self.name)
        return 1 if self._stop >= 2 else 0

    def _register_supervisor(self) -> bool:
        """Register, waiting with backoff while the database is down; False if stopped."""
        backoff = 0.5
        while not self._stop:
            try:
                # A dead process of the same name (its pid reused) may still hold rows.
                self.broker.recover(self.name)
                self.broker.register(
                    self.name,
                    hostname=self.hostname,
                    pid=os.getpid(),
                    pool=self.pool,
                    concurrency=self.concurrency,
                    queues=self.queues,
                )
                self.slots.renew_lease()
                self.recovery.run()
                if self.beat is not None:
                    self.beat.sync()
                    # Celery's embedded beat (-B) sends both as its scheduler starts.
                    signals.beat_init.send(sender=self.beat)
                    signals.beat_embedded_init.send(sender=self.beat)
                return True
            except Exception as exc:
                if not self.broker.is_connection_error(exc):
                    raise
                if self.burst:
                    # cron and CI need a failure they can see, not a worker waiting forever.
                    logger.error(
                        "worker name=%s event=db-unavailable error=%r burst=exit", self.name, exc
                    )
                    return False
                logger.warning(
                    "worker name=%s event=db-unavailable error=%r retry_in=%.1fs",
                    self.name,
                    exc,
                    backoff,
                )
                _close_quietly(self.broker.using)
                deadline = time.monotonic() + backoff
                while not self._stop and time.monotonic() < deadline:
                    time.sleep(0.1)
                backoff = min(backoff * 2, 10.0)
        return False

    def _unregister(self) -> None:
        try:
            self.broker.unregister(self.name)
        except Exception:
            logger.warning("worker name=%s event=unregister-failed", self.name, exc_info=True)

    # -- signals -------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum, frame) -> None:
        self._stop += 1
        kind = "warm" if self._stop == 1 else "cold"
        logger.info(
            "worker name=%s event=%s-shutdown signal=%s",
            self.name,
            kind,
            signal.Signals(signum).name,
        )
        signals.worker_shutting_down.send(
            sender=self.hostname,
            sig=signal.Signals(signum).name,
            how=kind.capitalize(),
            exitcode=0 if self._stop == 1 else 1,
        )
        for consumer in self._consumers:
            consumer.stop()
        if self.pool == "prefork":
            for pid in list(self._children):
                self._signal_child(pid, signal.SIGTERM if self._stop == 1 else signal.SIGKILL)

    def _on_hup(self, signum, frame) -> None:
        logger.info("worker name=%s event=restart-children signal=SIGHUP", self.name)
        self._restart = True

    # -- prefork -------------------------------------------------------------------------------

    def _run_prefork(self) -> None:
        for index in range(self.concurrency):
            self._spawn(index)
        signals.worker_ready.send(sender=self)
        last_beat = last_revoke = last_upkeep = time.monotonic()
        while self._children:
            self._reap()
            now = time.monotonic()
            self._enforce_time_limits()
            if self._restart:
                self._restart = False
                for pid in list(self._children):
                    self._children[pid].reason = "restart"
                    self._signal_child(pid, signal.SIGTERM)
            try:
                if now - last_revoke >= REVOKE_CHECK:
                    last_revoke = now
                    self._terminate_revoked()
                if now - last_beat >= conf.get("HEARTBEAT_INTERVAL"):
                    last_beat = now
                    self._heartbeat()
                # Every heartbeat: a dead sibling on this host (its pid gone) is recovered
                # within one interval, without waiting for its heartbeat to go stale.
                if now - last_upkeep >= conf.get("HEARTBEAT_INTERVAL"):
                    last_upkeep = now
                    self.recovery.run()
                if self.beat is not None and not self._stop:
                    self.beat.turn()
            except Exception as exc:
                self._db_trouble(exc)
            self._wait_for_notifications(TICK)

    def _wait_for_notifications(self, timeout: float) -> None:
        """Sleep up to `timeout`; each notification meanwhile wakes one idle consumer."""
        try:
            self.waker.wait(timeout)
        except Exception as exc:
            self._db_trouble(exc)
            time.sleep(timeout)

    def _heartbeat(self) -> None:
        """One statement for this process and its consumers; then renew their lease."""
        self.broker.heartbeat(self.name)
        self.slots.renew_lease()
        signals.heartbeat_sent.send(sender=self)

    def _spawn(self, index: int) -> None:
        slot: Slot = self.slots[index]
        slot.end()
        signals.worker_before_create_process.send(sender=self)
        # A socket shared by two processes corrupts both: the child opens its own.
        connections.close_all()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, seen through its effects
            code = 1
            try:
                code = self._child_main(index, slot)
            except BaseException:
                logger.exception("worker child crashed")
            finally:
                signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=code)
                logging.shutdown()
                os._exit(code)
        name = f"{self.hostname}.{pid}"
        slot.pid = pid
        self._children[pid] = _Child(index=index, pid=pid, name=name, started=time.time())
        logger.info("worker name=%s event=child-start pid=%d index=%d", self.name, pid, index)

    def _child_main(self, index: int, slot: Slot) -> int:
        # The supervisor relays shutdowns: a terminal's Ctrl-C (sent to the whole process
        # group) must not count twice in a child.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        consumer = self._consumer(f"{self.hostname}.{os.getpid()}", slot)
        consumer.parent_pid = os.getppid()
        consumer.wakeup = self.wake_pipe
        slot.claim_for(consumer.config.name, os.getpid())

        def warm(signum, frame):
            consumer.stop()

        signal.signal(signal.SIGTERM, warm)
        _die_with_parent(signal.SIGTERM)
        signals.worker_process_init.send(sender=None)
        self._register_consumer(consumer)
        with redirect_stdouts(enabled=not self.custom_logging):
            reason = consumer.run()
        try:
            self.broker.unregister(consumer.config.name, start_marker=slot.start_marker)
        except Exception:
            logger.warning(
                "worker name=%s event=unregister-failed", consumer.config.name, exc_info=True
            )
        logger.info(
            "worker name=%s event=child-exit reason=%s processed=%d",
            consumer.config.name,
            reason,
            consumer.processed,
        )
        return EXIT_REPLACE if reason.startswith("max-") else 0

    def _consumer(self, name: str, slot) -> Consumer:
        config = ConsumerConfig(
            name=name,
            hostname=self.hostname,
            queues=self.queues,
            burst=self.burst,
            max_tasks=self.max_tasks_per_child,
            max_memory_kib=self.max_memory_per_child,
            time_limit=self.time_limit,
            soft_time_limit=self.soft_time_limit,
        )
        return Consumer(self.app, self.broker, config, slot, self.slots)

    def _register_consumer(self, consumer: Consumer) -> None:
        backoff = 0.5
        while True:
            try:
                self.broker.recover(consumer.config.name)  # as in _register_supervisor
                self.broker.register(
                    consumer.config.name,
                    hostname=self.hostname,
                    pid=os.getpid(),
                    supervisor=self.name,
                    pool=self.pool,
                    concurrency=1,
                    queues=self.queues,
                )
                return
            except Exception as exc:
                if not self.broker.is_connection_error(exc):
                    raise
                _close_quietly(self.broker.using)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            if child is None:
                continue
            self._child_exited(child, status)

    def _child_exited(self, child: _Child, status: int) -> None:
        slot: Slot = self.slots[child.index]
        running = slot.current
        if os.WIFSIGNALED(status):
            how = f"signal={signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exitcode={os.WEXITSTATUS(status)}"
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        clean = code in (0, EXIT_REPLACE) and running is None
        level = logging.INFO if clean else logging.WARNING
        logger.log(
            level,
            "worker name=%s event=child-exit pid=%d %s reason=%s task=%s",
            self.name,
            child.pid,
            how,
            child.reason or ("done" if clean else "died"),
            running or "-",
        )
        began = slot.started
        slot.end()
        self._settle_dead_child(child, running, began)
        if self._stop or (self.burst and code == 0 and child.reason != "restart"):
            return
        self._spawn(child.index)

    def _settle_dead_child(self, child: _Child, running: str | None, began: float) -> None:
        """
        Handle what a dead child held at once, without waiting for its heartbeat to age.

        `running` is the task it was running (None: none), since `began` (its slot's clock).
        """
        start_marker = self.slots[child.index].start_marker
        backoff = 0.5
        for _attempt in range(20):
            try:
                if running and child.reason == "time-limit":
                    # Its outcome, as the child would have written it (it held the row).
                    outcome = Outcome(
                        id=running,
                        state=states.FAILURE,
                        exc_type="django_tasks.exceptions.TimeLimitExceeded",
                        exc_message=f"Task exceeded its hard time limit and its process "
                        f"{child.pid} was killed.",
                        worker=child.name,
                        started_at=datetime.fromtimestamp(began, UTC) if began else None,
                    )
                    self.broker.finish(child.name, [outcome])
                self.broker.unregister(child.name, start_marker=start_marker)
                return
            except Exception as exc:
                self._db_trouble(exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _enforce_time_limits(self) -> None:
        now = time.time()
        for pid, child in list(self._children.items()):
            slot: Slot = self.slots[child.index]
            if slot.over_limit(now) and child.reason != "time-limit":
                child.reason = "time-limit"
                logger.warning(
                    "task id=%s state=FAILURE reason=time-limit worker=%s limit=%s",
                    slot.current,
                    child.name,
                    slot.hard_limit,
                )
                self._signal_child(pid, signal.SIGKILL)

    def _terminate_revoked(self) -> None:
        busy = {}
        for pid, child in self._children.items():
            current = self.slots[child.index].current
            if current:
                busy[current] = pid
        if not busy:
            return
        for task_id in self.broker.revoked_among(list(busy)):
            pid = busy[task_id]
            child = self._children.get(pid)
            if child and child.reason != "revoked":
                child.reason = "revoked"
                logger.info(
                    "task id=%s state=REVOKED reason=terminate worker=%s", task_id, child.name
                )
                self._signal_child(pid, signal.SIGKILL)

    def _signal_child(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def _db_trouble(self, exc: Exception) -> None:
        if self.broker.is_connection_error(exc):
            logger.warning("worker name=%s event=db-lost error=%r", self.name, exc)
            _close_quietly(self.broker.using)
        else:
            logger.error("worker name=%s event=supervisor-error", self.name, exc_info=True)

    # -- threads and solo ------------------------------------------------------------------------

    def _run_in_process(self) -> None:
        """Run consumers in this process: threads, or the main thread for solo."""
        pid = os.getpid()
        for i in range(self.concurrency):
            suffix = "" if self.pool == "solo" else f"-t{i}"
            name = f"{self.hostname}.{pid}{suffix}"
            self.slots[i].claim_for(name, pid)
            consumer = self._consumer(name, self.slots[i])
            consumer.wakeup = self.wake_pipe
            self._consumers.append(consumer)
        for consumer in self._consumers:
            self._register_consumer(consumer)
        if self.pool == "threads":
            # The main thread only waits from now on: its connection would be one more
            # than the consumers' and the upkeep thread's.
            connections[self.broker.using].close()
        upkeep = threading.Thread(target=self._upkeep_loop, name="upkeep", daemon=True)
        self._wake_thread = threading.Thread(target=self._wakeup_loop, name="wakeups", daemon=True)
        self._wake_thread.start()
        # This process is the pool: it starts and ends as one pool process does.
        signals.worker_process_init.send(sender=None)
        try:
            self._serve_in_process(upkeep)
        finally:
            self._done = True
            signals.worker_process_shutdown.send(
                sender=None, pid=pid, exitcode=1 if self._stop >= 2 else 0
            )

    def _serve_in_process(self, upkeep: threading.Thread) -> None:
        with redirect_stdouts(enabled=not self.custom_logging):
            if self.pool == "solo":
                upkeep.start()
                signals.worker_ready.send(sender=self)
                self._run_consumer(self._consumers[0])
            else:
                threads = [
                    threading.Thread(target=self._run_consumer, args=(c,), name=c.config.name)
                    for c in self._consumers
                ]
                for t in threads:
                    t.start()
                upkeep.start()
                signals.worker_ready.send(sender=self)
                while any(t.is_alive() for t in threads):
                    if self._stop >= 2:
                        break
                    for t in threads:
                        t.join(timeout=TICK)

    def _run_consumer(self, consumer: Consumer) -> None:
        try:
            consumer.run()
        finally:
            try:
                self.broker.unregister(
                    consumer.config.name, start_marker=consumer.slot.start_marker
                )
            except Exception:
                logger.warning(
                    "worker name=%s event=unregister-failed", consumer.config.name, exc_info=True
                )
            connections.close_all()

    def _wakeup_loop(self) -> None:
        """Threads and solo: this thread alone listens, and wakes the consumer threads."""
        while not self._done:
            self._wait_for_notifications(1.0)
        self.waker.close()

    def _upkeep_loop(self) -> None:
        last_upkeep = time.monotonic()
        while not self._done:
            deadline = time.monotonic() + conf.get("HEARTBEAT_INTERVAL")
            while not self._done and time.monotonic() < deadline:
                time.sleep(0.1)
                if self.beat is not None and not self._stop:
                    try:
                        self.beat.turn()
                    except Exception as exc:
                        self._db_trouble(exc)
            try:
                self._heartbeat()
                if time.monotonic() - last_upkeep >= conf.get("HEARTBEAT_INTERVAL"):
                    last_upkeep = time.monotonic()
                    self.recovery.run()
            except Exception as exc:
                self._db_trouble(exc)


def _die_with_parent(sig: int) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _close_quietly(using: str) -> None:
    """Close a connection that may already be broken (it is gone either way)."""
    try:
        connections[using].close()
    except Exception:
        logger.debug("close failed", exc_info=True)
