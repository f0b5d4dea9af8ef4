"""
One consumer: claim a batch, run it, record the outcomes in one statement, repeat.

A consumer is a prefork child process, a thread of the threads pool, or the solo worker's
main loop. It owns one database connection for its whole life (whatever ``CONN_MAX_AGE``
says for web requests) and keeps no transaction open while a task body runs. Idle, it waits
on its supervisor's wake pipe (``wakeup.py``: the supervisor alone listens to the database);
a consumer run without one listens itself.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections
from django.utils import timezone

from .. import conf, signals, states
from ..exceptions import DecodeError
from ..message import Message, Outcome
from ..ratelimit import TokenBucket
from ..serialization import encode_exception, format_traceback
from ..trace import ExceptionInfo, request_for
from .executor import ExecutorContext, execute, lookup, storable

logger = logging.getLogger("django_tasks.worker.consumer")

#: Aim for this much work per claimed batch: long tasks are claimed one at a time (fair
#: to the other consumers), no-op tasks a full batch per round trip.
BATCH_SECONDS = 0.05
#: Flush outcomes at least this often while a batch runs.
FLUSH_SECONDS = 0.05
#: --burst waits for rows due within this many seconds before it exits.
BURST_HORIZON = 10.0
#: The exception type an outcome names when the worker could not decode a message.
_DECODE_ERROR = f"{DecodeError.__module__}.{DecodeError.__qualname__}"
#: With LISTEN/NOTIFY, idle consumers still poll this often (a safety net).
NOTIFY_SAFETY_POLL = 10.0


@dataclass
class ConsumerConfig:
    name: str
    hostname: str
    queues: Sequence[str]
    burst: bool = False
    max_tasks: int | None = None
    max_memory_kib: int | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None


class LeaseExpired(Exception):
    """The supervisor's heartbeat is too old: others may recover our rows; start nothing."""


class Consumer:
    """Claims and runs messages until asked to stop (warm: finish the running task)."""

    def __init__(self, app, broker, config: ConsumerConfig, slot, slot_file) -> None:
        self.app = app
        self.broker = broker
        self.config = config
        self.slot = slot
        self.slot_file = slot_file
        #: The claim_seq of the last row claimed: the next claim numbers its rows after it.
        self._claim_seq = 0
        self.stopping = False
        self.exit_reason = "stopped"
        self.processed = 0
        self._pending: list[Outcome] = []
        self._buckets: dict[str, TokenBucket] = {}
        self._avg_runtime = 0.0
        #: Average runtime by task name: a body that may run long is run alone.
        self._runtimes: dict[str, float] = {}
        self._listener = None
        self._listen_tried = False
        self._opened_at = time.monotonic()
        #: The supervisor's pid (prefork): a child whose parent is gone stops.
        self.parent_pid: int | None = None
        #: The supervisor's wake pipe (``wakeup.WakePipe``); None: listen on our own.
        self.wakeup = None
        self.ctx = ExecutorContext(
            app=app,
            broker=broker,
            worker=config.name,
            hostname=config.hostname,
            time_limit=config.time_limit,
            soft_time_limit=config.soft_time_limit,
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> str:
        """Serve until stopped, burst-empty or a per-child limit; return why it stopped."""
        backoff = 0.5
        while not self.stopping:
            try:
                self._keep_connection_fresh()
                if not self._round():
                    break
                backoff = 0.5
            except LeaseExpired:
                logger.warning(
                    "worker name=%s event=lease-expired: waiting for a heartbeat", self.config.name
                )
                while not self.stopping and not self._lease_ok():
                    time.sleep(0.2)
                self._resync()
            except Exception as exc:
                if not self.broker.is_connection_error(exc):
                    logger.error("worker name=%s event=loop-error", self.config.name, exc_info=True)
                else:
                    logger.warning(
                        "worker name=%s event=db-lost error=%r retry_in=%.1fs",
                        self.config.name,
                        exc,
                        backoff,
                    )
                self._drop_connections()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                self._resync()
        self._shutdown()
        return self.exit_reason

    def _round(self) -> bool:
        """Claim and run one batch; wait when idle. False: the consumer should stop."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            logger.warning("worker name=%s event=supervisor-gone", self.config.name)
            self.exit_reason = "supervisor-gone"
            return False
        limit = self._batch_size()
        if not self._lease_ok():
            raise LeaseExpired()
        messages = self.broker.claim(
            self.config.name, self.config.queues, limit, first_seq=self._claim_seq
        )
        if messages:
            self._claim_seq = max(m.claim_seq for m in messages)
            if self.wakeup is not None and len(messages) >= limit:
                self.wakeup.wake()  # more may be waiting: bring in an idle sibling
        if not messages:
            self._flush()
            if self.config.burst:
                # Rows due within a few seconds (rate-limited ones this consumer deferred,
                # short countdowns) are still this burst's work; later ones are not.
                due_in = self.broker.seconds_until_due(self.config.queues)
                if due_in is None or due_in > BURST_HORIZON:
                    self.exit_reason = "burst-done"
                    return False
                self._sleep(due_in)
                return True
            self._wait_idle()
            return True
        logger.debug("claim worker=%s count=%d", self.config.name, len(messages))
        if signals.task_received.has_listeners(self):
            for message in messages:
                request = self._request(message)
                if request is not None:  # an undecodable message is rejected, not received
                    signals.task_received.send(sender=self, request=request)
        deferred: list[tuple[str, float]] = []
        deferred_names: list[str] = []
        for i, message in enumerate(messages):
            if self.stopping:
                self._release([m.id for m in messages[i:]])
                break
            if not self._lease_ok():
                raise LeaseExpired()
            last = self._before_long_body(message, messages[i + 1 :])
            self._run_one(message, deferred, deferred_names)
            if last:
                break
            if self._pending and (time.monotonic() - self._pending_since >= FLUSH_SECONDS):
                self._flush()
            if self._over_limits():
                self._release([m.id for m in messages[i + 1 :]])
                self.stopping = True
                break
        self._flush()
        if deferred:
            self.broker.release(self.config.name, deferred)
        return not self.stopping

    def _before_long_body(self, message: Message, rest: Sequence[Message]) -> bool:
        """
        Before a body that may run long: record the outcomes so far, give the rest back.

        A body may run long when its task took more than BATCH_SECONDS here on average, or
        has not run here yet. Outcomes of quick tasks before it must not wait for it (nor
        be lost to WorkerLostError if it is killed); the rest of the batch has not started,
        so it goes back to the queue for an idle consumer. True: the rest was given back.
        """
        if not rest and not self._pending:
            return False
        if message.options.get("decode_error") or message.options.get("expired"):
            return False
        known = self._runtimes.get(message.name)
        if known is not None and known <= BATCH_SECONDS:
            return False
        self._flush()
        if not rest:
            return False
        self._release([m.id for m in rest])
        logger.debug(
            "release worker=%s count=%d before=%s", self.config.name, len(rest), message.id
        )
        return True

    def _run_one(
        self, message: Message, deferred: list[tuple[str, float]], deferred_names: list[str]
    ) -> None:
        task, outcome = lookup(self.ctx, message)
        if task is not None:
            wait = self._rate_wait(task)
            if wait:
                # A rate-limited task goes back to the queue, due when its token is (the
                # k-th deferred of a task k intervals later); the consumer goes on with the
                # rest of its batch.
                later = sum(1 for name in deferred_names if name == task.name)
                deferred.append((message.id, wait + later / task.options.rate_limit))
                deferred_names.append(task.name)
                return
            began = time.monotonic()
            outcome = self._execute(message, task)
            runtime = time.monotonic() - began
            # Before its outcome is written: else the outcome would join the task's open
            # transaction, and be rolled back with it.
            self._roll_back_left_open(message)
            if outcome is not None and outcome.exc_type:
                # The body raised: if a database error went through our connection, Django
                # flagged it (errors_occurred); a connection that is gone is renewed.
                self._renew_if_broken()
            self._avg_runtime = (
                runtime if not self.processed else (0.8 * self._avg_runtime + 0.2 * runtime)
            )
            known = self._runtimes.get(message.name)
            self._runtimes[message.name] = runtime if known is None else 0.8 * known + 0.2 * runtime
            self.processed += 1
        if outcome is not None and outcome.exc_type == _DECODE_ERROR:
            signals.task_rejected.send(
                sender=self, message=message, exc=DecodeError(outcome.exc_message)
            )
        if outcome is not None:
            outcome = storable(message, outcome)
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append(outcome)

    def _execute(self, message: Message, task) -> Outcome | None:
        """
        ``execute``; a failure of the worker around the body sends ``task_internal_error``.

        Such a failure (bad options in the message, a broken start marker) ends the row
        FAILURE with the error: the worker goes on, and the message is not claimed again
        to fail the same way. A lost connection is not one: it propagates to ``run``.
        """
        try:
            return execute(self.ctx, message, task, self.slot)
        except Exception as exc:
            if self.broker.is_connection_error(exc):
                raise
            self.slot.end()
            einfo = ExceptionInfo(exc, format_traceback(exc))
            logger.error(
                "task id=%s name=%s state=FAILURE reason=internal-error worker=%s",
                message.id,
                message.name,
                self.config.name,
                exc_info=exc,
            )
            signals.task_internal_error.send(
                sender=task,
                task_id=message.id,
                args=tuple(message.args),
                kwargs=dict(message.kwargs),
                request=self._request(message),
                exception=exc,
                traceback=exc.__traceback__,
                einfo=einfo,
            )
            described = encode_exception(exc)
            now = timezone.now()
            return Outcome(
                id=message.id,
                state=states.FAILURE,
                result={"exc_type": described["exc_type"], "exc_args": described["exc_args"]},
                exc_type=described["exc_type"],
                exc_message=described["exc_message"],
                traceback=einfo.traceback,
                retries=message.retries,
                started_at=now,
                finished_at=now,
                worker=self.config.name,
            )

    def _request(self, message: Message):
        """The task's request for `message`, or None when its arguments cannot make one."""
        host, using = self.config.hostname, self.broker.using
        if message.options.get("decode_error"):
            return None
        try:
            return request_for(message, hostname=host, eager=False, using=using, stored=True)
        except (TypeError, ValueError):
            return None

    def _lease_ok(self) -> bool:
        return self.slot_file.lease_valid(conf.get("HEARTBEAT_TIMEOUT"))

    def _batch_size(self) -> int:
        most = conf.get("CLAIM_BATCH_SIZE")
        if self.config.max_tasks:
            most = min(most, max(1, self.config.max_tasks - self.processed))
        if not self.processed:
            return 1
        if self._avg_runtime <= 0:
            return most
        return max(1, min(most, int(BATCH_SECONDS / self._avg_runtime)))

    def _rate_wait(self, task) -> float:
        rate = task.options.rate_limit
        if not rate:
            return 0.0
        bucket = self._buckets.get(task.name)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[task.name] = TokenBucket(rate)
        if bucket.consume():
            return 0.0
        return bucket.wait_time()

    def _over_limits(self) -> bool:
        if self.config.max_tasks and self.processed >= self.config.max_tasks:
            self.exit_reason = "max-tasks-per-child"
            return True
        if self.config.max_memory_kib:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if rss > self.config.max_memory_kib:
                self.exit_reason = f"max-memory-per-child rss={rss}KiB"
                return True
        return False

    # -- recording ---------------------------------------------------------------------------

    def _flush(self) -> None:
        """Record pending outcomes in one transaction; kept in memory until that succeeds."""
        if self._pending:
            self.broker.finish(self.config.name, self._pending)
            self._pending = []

    def _release(self, ids: list[str]) -> None:
        """Give claimed, unstarted rows back, due now, and wake as many idle siblings."""
        if ids:
            self.broker.release(self.config.name, [(i, 0.0) for i in ids])
            if self.wakeup is not None:
                # They start now, not at the supervisor's next look at the database (SQLite
                # and MySQL poll it every 50 ms; a release sends no notification).
                self.wakeup.wake(len(ids))

    def _resync(self) -> None:
        """
        After a lost connection or lease: give back every row we hold but are not recording.

        Rows whose outcome is pending are kept (and then recorded); the others were claimed
        but never started here (a claim whose reply was lost, the rest of a batch): they go
        back to the queue. Started rows always have a pending outcome.
        """
        try:
            keep = {o.id for o in self._pending}
            self.broker.recover(self.config.name, start_marker=None, exclude=keep)
            self._flush()
        except Exception as exc:
            logger.warning("worker name=%s event=resync-failed error=%r", self.config.name, exc)
            self._drop_connections()

    # -- waiting -----------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, deadline - time.monotonic()))

    def _wait_idle(self) -> None:
        due_in = self.broker.seconds_until_due(self.config.queues)
        poll = conf.get("POLL_INTERVAL")
        if self.wakeup is not None:
            self._wait_for_wakeup(poll, due_in)
            return
        if self._listener is None and not self._listen_tried:
            self._listen_tried = True
            self._listener = self.broker.listen()
            if self._listener is not None:
                return  # claim once more: rows may have arrived before listening began
        if self.broker.supports_notify and self._listener is not None:
            poll = max(poll, NOTIFY_SAFETY_POLL)
        timeout = poll
        if due_in is not None:
            timeout = min(timeout, max(0.0, due_in))
        if timeout <= 0:
            return
        # Wait in short steps so a warm shutdown is seen within a second.
        deadline = time.monotonic() + timeout
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._listener is not None:
                if self._listener.wait(min(1.0, left)):
                    return
            else:
                time.sleep(min(0.1, left))

    def _wait_for_wakeup(self, poll: float, due_in: float | None) -> None:
        """Idle: wait for the supervisor's wake-up, the next due row, or the safety poll."""
        if self.broker.supports_notify:
            poll = max(poll, NOTIFY_SAFETY_POLL)
        timeout = poll if due_in is None else min(poll, max(0.0, due_in))
        deadline = time.monotonic() + timeout
        # In steps of a second at most, so a warm shutdown is seen within one.
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0 or self.wakeup.wait(min(1.0, left)):
                return

    # -- connections -------------------------------------------------------------------------

    def _keep_connection_fresh(self) -> None:
        """Between batches: roll back what a task left open; renew an old connection."""
        connection = connections[self.broker.using]
        if connection.connection is not None and not connection.get_autocommit():
            logger.warning("worker name=%s event=open-transaction-rolled-back", self.config.name)
            connection.rollback()
            connection.set_autocommit(True)
        max_age = conf.get("WORKER_CONN_MAX_AGE")
        if max_age is not None and time.monotonic() - self._opened_at > max_age:
            connection.close()
            self._opened_at = time.monotonic()

    def _roll_back_left_open(self, message: Message) -> None:
        """Roll back a transaction (or ``atomic`` block) the task's body left open."""
        connection = connections[self.broker.using]
        if connection.connection is None:
            return
        if not connection.in_atomic_block and connection.get_autocommit():
            return
        logger.warning(
            "task id=%s name=%s event=open-transaction-rolled-back worker=%s",
            message.id,
            message.name,
            self.config.name,
        )
        # An atomic block entered and never left: forget it, as its exit would have.
        connection.in_atomic_block = False
        connection.savepoint_ids = []
        connection.atomic_blocks = []
        connection.needs_rollback = False
        connection.commit_on_exit = True
        connection.rollback()
        connection.set_autocommit(True)

    def _renew_if_broken(self) -> None:
        """After a body failed on the database: drop the connection if it is gone, so the
        next task gets a new one instead of failing the same way."""
        connection = connections[self.broker.using]
        if connection.connection is not None and connection.errors_occurred:
            if not connection.is_usable():
                logger.warning("worker name=%s event=db-lost: connection renewed", self.config.name)
                self._drop_connections()
            connection.errors_occurred = False

    def _drop_connections(self) -> None:
        try:
            connections[self.broker.using].close()
        except Exception:  # a broken connection may fail to close; it is gone either way
            logger.debug("close failed", exc_info=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._listen_tried = False
        self._opened_at = time.monotonic()

    def _shutdown(self) -> None:
        try:
            self._flush()
        except Exception:
            logger.error("worker name=%s event=final-flush-failed", self.config.name, exc_info=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def stop(self) -> None:
        """Warm stop: finish the running task, release the rest of the batch, then return."""
        self.stopping = True
