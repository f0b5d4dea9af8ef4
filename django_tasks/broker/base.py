"""
The broker contract, written once with the ORM; vendor modules replace hot statements.

Every verb is a state transition (see the table in STYLE.md): enqueue, claim, ack, finish,
requeue, recover, revoke, heartbeat, prune. Verbs take and return ``Message``/``Outcome``
values, never tasks, and commit before they return.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import BooleanField, Case, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from .. import states
from ..message import Message, Outcome
from ..serialization import revive, to_json

logger = logging.getLogger(__name__)

#: States in which a row is neither waiting nor finished: some worker holds it. Custom
#: states written by ``update_state`` (PROGRESS...) are held too.
# In the same order as the dt_held index's predicate (models.py): SQLite and PostgreSQL
# match a partial index only when the query repeats its predicate, constants in order.
NOT_HELD = (*states.CLAIMABLE_STATES, *sorted(states.READY_STATES))
HELD = ~Q(state__in=NOT_HELD)

_LOST = "django_tasks.exceptions.WorkerLostError"
#: Outcomes a vendor may write for a whole batch in one statement.
FINAL_STATES = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED, states.REJECTED})


class Broker:
    """Portable broker: the ORM and ``select_for_update(skip_locked=...)``."""

    # Can a claim pass over rows another worker has locked (FOR UPDATE SKIP LOCKED)?
    supports_skip_locked = False
    # Can the database wake a waiting worker (LISTEN/NOTIFY)?
    supports_notify = False
    #: Rows per INSERT statement in ``enqueue``.
    insert_batch_size = 500

    def __init__(self, using: str) -> None:
        self.using = using

    @property
    def connection(self):
        return connections[self.using]

    # -- enqueue -----------------------------------------------------------------------------

    def enqueue(self, messages: Sequence[Message]) -> None:
        """
        Write ``messages`` as new PENDING rows, in the caller's transaction if one is open.

        Each row is due at its ``eta`` or at once. Rows are inserted a batch per statement,
        then waiting workers are woken (where the database can).
        """
        from ..models import TaskMessage

        now = timezone.now()
        options: dict[int, Any] = {}  # enqueue_many's messages share one: encoded once
        rows = [self._row(m, now, options) for m in messages]
        TaskMessage.objects.using(self.using).bulk_create(rows, batch_size=self.insert_batch_size)

    @staticmethod
    def _row(m: Message, now, options: dict[int, Any]):
        from ..models import TaskMessage

        # The JSON columns hold the wire form (type markers), parsed from the text once.
        args, kwargs = (json.loads(text) for text in m.wire_args())
        if id(m.options) not in options:
            options[id(m.options)] = to_json(m.options)
        return TaskMessage(
            id=m.id,
            name=m.name,
            queue=m.queue,
            priority=m.priority,
            args=args,
            kwargs=kwargs,
            state=states.PENDING,
            run_at=m.eta or now,
            eta=m.eta,
            expires=m.expires,
            retries=m.retries,
            max_retries=m.options.get("max_retries"),
            acks_late=bool(m.options.get("acks_late")),
            options=options[id(m.options)],
            parent_id=m.options.get("parent_id") or "",
            group_id=m.options.get("group_id") or "",
            created_at=now,
        )

    # -- claim and ack -------------------------------------------------------------------------

    def claim(
        self, worker: str, queues: Sequence[str], limit: int, first_seq: int = 0
    ) -> list[Message]:
        """
        Reserve up to `limit` ready messages from `queues` for `worker`.

        Due PENDING or RETRY -> RECEIVED, highest priority first, then longest waiting; the
        rows are numbered ``first_seq + 1, + 2, ...`` (``claim_seq``) in that order, which is
        the order the worker runs them. Returns [] when nothing is due. Commits before
        returning; no row is ever returned to two workers.
        """
        from ..models import TaskMessage

        with transaction.atomic(using=self.using):
            qs = (
                TaskMessage.objects.using(self.using)
                .select_for_update(skip_locked=self.supports_skip_locked)
                .filter(
                    state__in=states.CLAIMABLE_STATES,
                    queue__in=list(queues),
                    run_at__lte=timezone.now(),
                )
                .order_by("-priority", "run_at")
            )
            ids = list(qs.values_list("id", flat=True)[:limit])
            if not ids:
                return []
            TaskMessage.objects.using(self.using).filter(id__in=ids).update(
                state=states.RECEIVED,
                worker=worker,
                reserved_at=timezone.now(),
                started_at=None,
                claim_seq=Case(
                    *[When(id=i, then=Value(first_seq + n)) for n, i in enumerate(ids, 1)]
                ),
            )
            rows = TaskMessage.objects.using(self.using).filter(id__in=ids).order_by("claim_seq")
            return [self._message(r) for r in rows]

    @staticmethod
    def _message(row) -> Message:
        expired = row.expires is not None and row.expires <= timezone.now()
        return Message(
            id=row.id,
            name=row.name,
            args=tuple(revive(row.args or [])),
            kwargs=revive(row.kwargs or {}),
            queue=row.queue,
            priority=row.priority,
            retries=row.retries,
            eta=row.eta,
            expires=row.expires,
            options={**revive(row.options or {}), "expired": expired},
            redelivered=row.redelivered,
            seq=row.claim_seq or 0,
        )

    def ack(self, worker: str, message: Message) -> bool:
        """
        Record that `worker` starts running `message` now, for ``track_started`` tasks.

        RECEIVED -> STARTED with ``started_at``. Returns False when the row is no longer
        this worker's to run (revoked meanwhile): the caller must not run it. Recovery also
        counts a row with ``started_at`` as started.
        """
        from ..models import TaskMessage

        n = (
            TaskMessage.objects.using(self.using)
            .filter(id=message.id, worker=worker, state=states.RECEIVED)
            .update(started_at=timezone.now(), state=states.STARTED)
        )
        return n == 1

    # -- outcomes ------------------------------------------------------------------------------

    def finish(self, worker: str, outcomes: Sequence[Outcome]) -> None:
        """
        Record `outcomes` of rows `worker` holds, in one transaction.

        Held -> SUCCESS, FAILURE, RETRY (due at its eta, retries + 1), PENDING (Reject with
        requeue), REJECTED, REVOKED or IGNORED (a custom state set by ``update_state`` is kept).
        A row revoked or recovered meanwhile is left alone. Follow-up messages (chains,
        links) are enqueued in the same transaction, so a crash never drops or doubles them.
        Attempt history rows are written for every outcome but a first-try success.
        """
        if not outcomes:
            return
        with transaction.atomic(using=self.using):
            final = [o for o in outcomes if o.state in FINAL_STATES]
            changed = self._record_final(worker, final) if final else set()
            kept = [o for o in final if o.id in changed]
            kept += [
                o for o in outcomes if o.state not in FINAL_STATES and self._record_one(worker, o)
            ]
            self._save_attempts([self._attempt(o) for o in kept if self._keeps_attempt(o)])
            follow_ups = [m for o in kept for m in o.follow_ups]
            if follow_ups:
                self.enqueue(follow_ups)

    def _record_final(self, worker: str, outcomes: Sequence[Outcome]) -> set[str]:
        """
        Write final outcomes (SUCCESS, FAILURE, REVOKED, REJECTED) of rows `worker` still
        holds; return the ids written. Vendors replace this with one statement per batch.
        """
        return {o.id for o in outcomes if self._record_one(worker, o)}

    def _record_one(self, worker: str, o: Outcome) -> bool:
        """Write one outcome of a row `worker` still holds; say whether it was."""
        from ..models import TaskMessage

        fields = self._outcome_fields(o)
        qs = TaskMessage.objects.using(self.using).filter(HELD, id=o.id, worker=worker)
        if o.state == states.IGNORED:
            if qs.filter(state__in=states.HELD_STATES).update(**fields):
                return True
            # A state the task set itself (update_state) stays, with its meta: Ignore
            # records nothing further. The row is let go of, so no recovery of this worker
            # ever turns it into WorkerLostError.
            return bool(qs.update(worker="", done_at=fields["done_at"]))
        return bool(qs.update(**fields))

    def _save_attempts(self, attempts: list) -> None:
        """
        Insert attempt rows numbered after the task's earlier attempts (one query), so a
        task requeued from the admin goes on counting instead of starting again at 1.
        """
        from django.db.models import Max

        from ..models import TaskAttempt

        if not attempts:
            return
        latest = dict(
            TaskAttempt.objects.using(self.using)
            .filter(task_id__in={a.task_id for a in attempts})
            .values("task_id")
            .annotate(n=Max("number"))
            .values_list("task_id", "n")
        )
        for a in attempts:
            a.number = max(a.number, latest.get(a.task_id, 0) + 1)
            latest[a.task_id] = a.number
        TaskAttempt.objects.using(self.using).bulk_create(attempts)

    @staticmethod
    def _keeps_attempt(o: Outcome) -> bool:
        return o.state != states.SUCCESS or o.retries > 0

    @staticmethod
    def _attempt(o: Outcome):
        from ..models import TaskAttempt

        return TaskAttempt(
            task_id=o.id,
            number=(o.retries if o.state != states.RETRY else o.retries - 1) + 1,
            state=o.state,
            worker=o.worker,
            started_at=o.started_at,
            finished_at=o.finished_at or timezone.now(),
            exc_type=o.exc_type,
            exc_message=o.exc_message,
            traceback=o.traceback,
        )

    @staticmethod
    def _outcome_fields(o: Outcome) -> dict[str, Any]:
        now = o.finished_at or timezone.now()
        fields: dict[str, Any] = {
            "state": o.state,
            "result": to_json(o.result),
            "exc_type": o.exc_type,
            "exc_message": o.exc_message,
            "traceback": o.traceback,
            "started_at": Coalesce(
                F("started_at"), Value(o.started_at, output_field=DateTimeField())
            ),
        }
        if o.state == states.RETRY:
            fields.update(
                run_at=o.eta or now,
                retries=o.retries,
                worker="",
                started_at=None,
                reserved_at=None,
                eta=o.eta,
            )
            if o.queue:
                fields["queue"] = o.queue
            if o.priority is not None:
                fields["priority"] = o.priority
            if o.args is not None:
                fields["args"] = to_json(list(o.args))
            if o.kwargs is not None:
                fields["kwargs"] = to_json(o.kwargs)
        elif o.state == states.PENDING:
            fields.update(
                run_at=now, worker="", started_at=None, reserved_at=None, redelivered=True
            )
        else:
            fields["done_at"] = now
        return fields

    def update_state(self, task_id: str, state: str, meta: Any) -> bool:
        """Set a running task's custom state and meta (visible at once to other processes)."""
        from ..models import TaskMessage

        return bool(
            TaskMessage.objects.using(self.using)
            .filter(HELD, id=task_id)
            .update(state=state, result=to_json(meta))
        )

    def fail(
        self,
        task_id: str,
        exc_type: str,
        message: str,
        *,
        worker: str | None = None,
        traceback: str = "",
        only_held: bool = True,
    ) -> bool:
        """Held (or any, with ``only_held=False``) -> FAILURE with the given exception."""
        from ..models import TaskMessage

        now = timezone.now()
        qs = TaskMessage.objects.using(self.using).filter(id=task_id)
        if only_held:
            qs = qs.filter(HELD)
        if worker is not None:
            qs = qs.filter(worker=worker)
        with transaction.atomic(using=self.using):
            row = qs.select_for_update().only("id", "retries", "started_at", "worker").first()
            if row is None:
                return False
            qs.update(
                state=states.FAILURE,
                exc_type=exc_type,
                exc_message=message,
                traceback=traceback,
                done_at=now,
                result=None,
            )
            self._save_attempts(
                [
                    self._attempt(
                        Outcome(
                            id=task_id,
                            state=states.FAILURE,
                            exc_type=exc_type,
                            exc_message=message,
                            traceback=traceback,
                            retries=row.retries,
                            started_at=row.started_at,
                            finished_at=now,
                            worker=row.worker,
                        )
                    )
                ]
            )
        return True

    # -- operator verbs ------------------------------------------------------------------------

    def requeue(self, ids: Iterable[str]) -> int:
        """
        Finished (SUCCESS, FAILURE, REVOKED, REJECTED, IGNORED) -> PENDING, due now, same id.

        The result and error are cleared; the attempt history is kept. Returns the number of
        rows requeued; rows waiting or running are skipped.
        """
        from ..models import TaskMessage

        n = (
            TaskMessage.objects.using(self.using)
            .filter(id__in=list(ids), state__in=states.READY_STATES)
            .update(
                state=states.PENDING,
                run_at=timezone.now(),
                eta=None,
                worker="",
                result=None,
                exc_type="",
                exc_message="",
                traceback="",
                done_at=None,
                started_at=None,
                reserved_at=None,
                redelivered=False,
            )
        )
        if n:
            self._wake()
        return n

    def run_now(self, ids: Iterable[str]) -> int:
        """Waiting (PENDING, RETRY) -> due now (clear the eta). Returns rows changed."""
        from ..models import TaskMessage

        n = (
            TaskMessage.objects.using(self.using)
            .filter(id__in=list(ids), state__in=states.CLAIMABLE_STATES)
            .update(run_at=timezone.now(), eta=None)
        )
        if n:
            self._wake()
        return n

    def revoke(self, ids: Iterable[str], terminate: bool = False) -> int:
        """
        Waiting or claimed-not-started -> REVOKED (it will never run).

        With `terminate`, running rows become REVOKED too; their worker's supervisor sees it
        and kills the child running them. Returns the number of rows revoked.
        """
        from ..models import TaskMessage

        ids = list(ids)
        now = timezone.now()
        fields = {
            "state": states.REVOKED,
            "done_at": now,
            "exc_type": "django_tasks.exceptions.TaskRevokedError",
            "exc_message": "revoked",
        }
        base = TaskMessage.objects.using(self.using).filter(id__in=ids)
        with transaction.atomic(using=self.using):
            n = base.filter(
                Q(state__in=states.CLAIMABLE_STATES)
                | Q(state=states.RECEIVED, started_at__isnull=True)
            ).update(**fields)
            if terminate:
                n += base.filter(HELD).update(**{**fields, "exc_message": "terminated"})
        return n

    def revoked_among(self, ids: Sequence[str]) -> list[str]:
        """Return which of the running task ids `ids` were revoked (to terminate them)."""
        from ..models import TaskMessage

        if not ids:
            return []
        return list(
            TaskMessage.objects.using(self.using)
            .filter(id__in=list(ids), state=states.REVOKED)
            .values_list("id", flat=True)
        )

    def delete_finished(self, ids: Iterable[str]) -> int:
        from ..models import TaskAttempt, TaskMessage

        with transaction.atomic(using=self.using):
            ids = list(
                TaskMessage.objects.using(self.using)
                .filter(id__in=list(ids), state__in=states.READY_STATES)
                .values_list("id", flat=True)
            )
            TaskAttempt.objects.using(self.using).filter(task_id__in=ids)._raw_delete(self.using)
            return TaskMessage.objects.using(self.using).filter(id__in=ids)._raw_delete(self.using)

    # -- workers: heartbeat and recovery ---------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        hostname: str,
        pid: int,
        supervisor: str = "",
        pool: str = "prefork",
        concurrency: int = 1,
        queues: Sequence[str] = (),
    ) -> None:
        """Record a live worker process (replacing a dead one of the same name)."""
        from ..models import Worker

        self.recover(name)
        Worker.objects.using(self.using).update_or_create(
            name=name,
            defaults=dict(
                hostname=hostname,
                pid=pid,
                supervisor=supervisor,
                pool=pool,
                concurrency=concurrency,
                queues=list(queues),
                started_at=Now(),
                heartbeat_at=Now(),
            ),
        )

    def unregister(self, name: str, started_through: int | None = None) -> None:
        """
        Remove a worker process that stopped (or died), after releasing what it holds.

        `started_through` is its start marker (see ``recover``); a process that stopped
        cleanly holds nothing.
        """
        from ..models import Worker

        self.recover(name, started_through)
        Worker.objects.using(self.using).filter(name=name).delete()

    def heartbeat(self, supervisor: str) -> None:
        """Say that `supervisor` and all its children are alive, in one statement."""
        from ..models import Worker

        Worker.objects.using(self.using).filter(
            Q(name=supervisor) | Q(supervisor=supervisor)
        ).update(heartbeat_at=Now())

    def _held_ids(self, worker: str) -> list[str]:
        """Ids of the rows `worker` holds (served by the dt_held partial index)."""
        from ..models import TaskMessage

        return list(
            TaskMessage.objects.using(self.using)
            .filter(HELD, worker=worker)
            .values_list("id", flat=True)
        )

    def release(self, worker: str, delays: Sequence[tuple[str, float]]) -> int:
        """
        Claimed-not-started rows of `worker` -> PENDING, each due after its delay (seconds).

        For a warm shutdown (delay 0) and rate limits (due when the next token is). The
        row's retries and redelivered flag are unchanged: it never started.
        """
        from ..models import TaskMessage

        now = timezone.now()
        n = 0
        with transaction.atomic(using=self.using):
            for task_id, delay in delays:
                n += (
                    TaskMessage.objects.using(self.using)
                    .filter(
                        id=task_id, worker=worker, state=states.RECEIVED, started_at__isnull=True
                    )
                    .update(
                        state=states.PENDING,
                        worker="",
                        reserved_at=None,
                        run_at=now + timedelta(seconds=delay),
                    )
                )
        if n:
            self._wake()
        return n

    def _wake(self) -> None:
        """Tell idle workers that rows became claimable (where the database can)."""

    def recover(
        self, worker: str, started_through: int | None = None, exclude: Iterable[str] = ()
    ) -> tuple[int, int]:
        """
        Release the rows a dead (or stopping) `worker` holds.

        A row counts as started when its ``claim_seq`` is at most `started_through` (the
        worker's start marker, read from its shared memory) or it has ``started_at`` (a
        ``track_started`` ack). Started acks-early rows -> FAILURE with ``WorkerLostError``
        (they never run twice); all others, and started ``acks_late`` rows, -> PENDING
        (redelivered). Rows in `exclude` are left alone. Returns (requeued, failed). Safe
        to call from several workers at once: each row changes once, under a row lock.
        """
        from ..models import TaskAttempt, TaskMessage

        now = timezone.now()
        message = f"Worker {worker!r} exited while running the task."
        ids = self._held_ids(worker)
        if not ids:
            return 0, 0
        with transaction.atomic(using=self.using):
            held = TaskMessage.objects.using(self.using).filter(HELD, worker=worker, id__in=ids)
            exclude = list(exclude)
            if exclude:
                held = held.exclude(id__in=exclude)
            started = Q(started_at__isnull=False)
            if started_through is not None:
                started |= Q(claim_seq__lte=started_through)
            lost = list(
                held.select_for_update(skip_locked=self.supports_skip_locked)
                .filter(started, acks_late=False)
                .values_list("id", "retries", "started_at")
            )
            failed = 0
            if lost:
                failed = (
                    TaskMessage.objects.using(self.using)
                    .filter(HELD, id__in=[i for i, _, _ in lost], worker=worker)
                    .update(
                        state=states.FAILURE,
                        exc_type=_LOST,
                        done_at=now,
                        result=None,
                        exc_message=message,
                        traceback="",
                    )
                )
                self._save_attempts(
                    [
                        TaskAttempt(
                            task_id=i,
                            number=r + 1,
                            state=states.FAILURE,
                            worker=worker,
                            started_at=s,
                            finished_at=now,
                            exc_type=_LOST,
                            exc_message=message,
                        )
                        for i, r, s in lost
                    ]
                )
            requeued = held.update(
                state=states.PENDING,
                worker="",
                started_at=None,
                reserved_at=None,
                redelivered=True,
                run_at=now,
                claim_seq=None,
            )
        if requeued:
            self._wake()
        if requeued or failed:
            logger.warning(
                "worker name=%s event=recovered requeued=%d failed=%d", worker, requeued, failed
            )
        return requeued, failed

    def orphan_holders(self) -> list[str]:
        """Names that hold rows but have no worker row at all (deleted, or never written)."""
        from ..models import TaskMessage, Worker

        return list(
            TaskMessage.objects.using(self.using)
            .filter(HELD)
            .exclude(worker="")
            .exclude(worker__in=Worker.objects.using(self.using).values("name"))
            .values_list("worker", flat=True)
            .distinct()
        )

    def dead_workers(self, timeout: float, hostname: str | None = None) -> list[dict]:
        """
        Worker rows whose heartbeat stopped `timeout` seconds ago (by the database clock),
        plus those on `hostname` (this machine) whose process no longer exists.

        Each is a dict with name, supervisor, hostname and pid. Nothing changes here: the
        caller recovers each (``recover``) and then ``forget_worker``s it. One query.
        """
        import os

        from ..models import Worker

        stale = ExpressionWrapper(
            Now() - Value(timedelta(seconds=timeout)), output_field=DateTimeField()
        )
        rows = Worker.objects.using(self.using)
        if hostname:
            rows = rows.filter(Q(heartbeat_at__lt=stale) | Q(hostname=hostname))
        else:
            rows = rows.filter(heartbeat_at__lt=stale)
        rows = rows.annotate(
            stale=ExpressionWrapper(Q(heartbeat_at__lt=stale), output_field=BooleanField())
        )
        dead = []
        for w in rows.values("name", "supervisor", "hostname", "pid", "stale"):
            gone = False
            if hostname and w["hostname"] == hostname and not w["stale"]:
                try:
                    os.kill(w["pid"], 0)
                except ProcessLookupError:
                    gone = True
                except PermissionError:
                    pass
            if w.pop("stale") or gone:
                dead.append(w)
        return dead

    def forget_worker(self, name: str) -> None:
        """Delete a worker's row (after its rows were recovered)."""
        from ..models import Worker

        Worker.objects.using(self.using).filter(name=name).delete()

    # -- upkeep --------------------------------------------------------------------------------

    def prune(self, older_than: float, batch_size: int = 1000) -> int:
        """Delete finished rows done more than `older_than` seconds ago, a batch at a time."""
        from ..models import TaskAttempt, TaskMessage

        before = timezone.now() - timedelta(seconds=older_than)
        total = 0
        while True:
            with transaction.atomic(using=self.using):
                # created_at <= done_at: the dt_created index finds every candidate.
                ids = list(
                    TaskMessage.objects.using(self.using)
                    .filter(
                        created_at__lt=before, state__in=states.READY_STATES, done_at__lt=before
                    )
                    .values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    return total
                TaskAttempt.objects.using(self.using).filter(task_id__in=ids)._raw_delete(
                    self.using
                )
                total += (
                    TaskMessage.objects.using(self.using).filter(id__in=ids)._raw_delete(self.using)
                )

    # -- wake-ups ------------------------------------------------------------------------------

    def listen(self):
        """Return a ``Listener`` that blocks until work may be ready (None: poll)."""
        return None

    def seconds_until_due(self, queues: Sequence[str]) -> float | None:
        """
        Seconds until the earliest waiting row of `queues` is due (<= 0: due now), by the
        database's clock; None when no row waits.
        """
        from django.db.models import Min

        from ..models import TaskMessage

        first = (
            TaskMessage.objects.using(self.using)
            .filter(state__in=states.CLAIMABLE_STATES, queue__in=list(queues))
            .aggregate(m=Min("run_at"))["m"]
        )
        return None if first is None else (first - timezone.now()).total_seconds()

    def is_connection_error(self, exc: BaseException) -> bool:
        from django.db import InterfaceError, OperationalError

        return isinstance(exc, OperationalError | InterfaceError)

    # -- the admin -----------------------------------------------------------------------------

    def estimated_count(self) -> int | None:
        """
        Roughly how many task rows there are, from the database's statistics.

        None when the database keeps no such estimate: the caller counts exactly. For the
        admin's list, where COUNT(*) over millions of rows would cost seconds per page.
        """
        return None
