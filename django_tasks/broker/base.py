"""
The broker contract, written once with the ORM; vendor modules replace hot statements.

Every verb is a state transition (see the table in STYLE.md): enqueue, claim, ack, finish,
requeue, recover, revoke, heartbeat, prune; and the operator's and worker's variants of
them: run_now (waiting -> due now), release (claimed, not started -> waiting), update_state,
delete_finished, register/unregister. Each verb that acts on chosen rows publishes the
states it acts on (``REQUEUE_FROM``, ``REVOKE_FROM``, ...: ``predicates.StateSet``s) and
filters on exactly those, so the admin can say beforehand what an action applies to. Verbs
take and return ``Message``/``Outcome`` values, never tasks, and commit before they return.
Rows are read and written through ``codec``; "now" is always the database's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from .. import states
from ..message import Message, Outcome
from ..serialization import revive, storable_text, to_json
from . import codec, predicates
from .predicates import CLAIMABLE, CLAIMED, FINISHED, UNFINISHED, StateSet

logger = logging.getLogger(__name__)


_LOST = "django_tasks.exceptions.WorkerLostError"
_ENCODE_ERROR = "django_tasks.exceptions.EncodeError"


def _refused(o: Outcome, exc: BaseException) -> Outcome:
    """The FAILURE recorded instead of outcome `o`, which the database refused."""
    text = storable_text(f"The database refused to store the task's {o.state} outcome: {exc}")
    return Outcome(
        id=o.id,
        state=states.FAILURE,
        result={"exc_type": _ENCODE_ERROR, "exc_args": [text]},
        exc_type=_ENCODE_ERROR,
        exc_message=text,
        retries=o.retries,
        started_at=o.started_at,
        finished_at=o.finished_at,
        worker=o.worker,
    )


_CHORD_ERROR = "django_tasks.exceptions.ChordError"


def _chord_error(member: str, row: Sequence[Any] | None) -> str:
    """Celery's ChordError text for a member that did not succeed: ``Dependency <id> raised
    <exception>``."""
    if row is None:
        return f"Dependency {member} has no result (its row was deleted)"
    _, state, result, exc_type, exc_message = row
    if state == states.IGNORED:
        return f"Dependency {member} was ignored (Ignore: it has no result)"
    name = (exc_type or state).rsplit(".", 1)[-1]
    exc_args = result.get("exc_args") if isinstance(result, dict) else None
    if isinstance(exc_args, list):
        shown = ", ".join(map(repr, exc_args))
    else:
        shown = repr(exc_message) if exc_message else ""
    return f"Dependency {member} raised {name}({shown})"


#: Outcomes a vendor may write for a whole batch in one statement.
FINAL_STATES = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED, states.REJECTED})


def _ago(seconds: float) -> ExpressionWrapper:
    """The database's now() minus `seconds`: one clock for every host."""
    return ExpressionWrapper(
        Now() - Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


def _later(seconds: float) -> ExpressionWrapper:
    """The database's now() plus `seconds`."""
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


class PollingWatcher:
    """
    A listener for databases without NOTIFY: it reads a cheap change marker (``_read``)
    every ``INTERVAL`` seconds and wakes its worker when the marker moves.
    """

    INTERVAL = 0.05

    def _read(self) -> Any:
        raise NotImplementedError

    def _start(self) -> None:
        self._marker = self._read()

    def wait(self, timeout: float) -> set[str]:
        """Block up to `timeout` seconds; return {"*"} once the marker changed."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            marker = self._read()
            if marker != self._marker:
                self._marker = marker
                return {"*"}
            left = deadline - time.monotonic()
            if left <= 0:
                return set()
            time.sleep(min(self.INTERVAL, left))


class Broker:
    """Portable broker: the ORM and ``select_for_update(skip_locked=...)``."""

    # Which rows each verb acts on, by state: the verbs filter on exactly these, and the
    # admin offers an action for a row only when its verb would act on it.
    #: ``claim``: waiting rows (once due).
    CLAIM_FROM: StateSet = CLAIMABLE
    #: ``requeue``: finished rows run again.
    REQUEUE_FROM: StateSet = FINISHED
    #: ``run_now``: waiting rows made due now.
    RUN_NOW_FROM: StateSet = CLAIMABLE
    #: ``revoke``: rows that will not run (waiting, or claimed and not started).
    REVOKE_FROM: StateSet = CLAIMABLE | CLAIMED
    #: ``revoke(terminate=True)``: every row not finished; running ones' children are killed.
    TERMINATE_FROM: StateSet = UNFINISHED
    #: ``delete_finished`` and ``prune``.
    DELETE_FROM: StateSet = FINISHED
    #: ``release``: a worker's claimed rows it has not started.
    RELEASE_FROM: StateSet = CLAIMED
    #: ``recover``, ``update_state`` and ``finish``: rows a worker holds.
    RECOVER_FROM: StateSet = predicates.HELD

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
        rows = [
            TaskMessage(
                **dict(
                    zip(
                        codec.ENQUEUE_COLUMNS,
                        codec.enqueue_values(m, *codec.python_args(m), to_json(m.options)),
                        strict=True,
                    )
                ),
                state=states.PENDING,
                # This host's clock: on SQLite (one machine) it is the database's; a Now()
                # per row would cost ~15% of enqueue_many here. PostgreSQL uses now().
                run_at=m.eta or now,
                created_at=now,
            )
            for m in messages
        ]
        TaskMessage.objects.using(self.using).bulk_create(rows, batch_size=self.insert_batch_size)

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
                .filter(self.CLAIM_FROM.q, queue__in=list(queues), run_at__lte=Now())
                .order_by("-priority", "run_at")
            )
            ids = list(qs.values_list("id", flat=True)[:limit])
            if not ids:
                return []
            TaskMessage.objects.using(self.using).filter(id__in=ids).update(
                state=states.RECEIVED,
                worker=worker,
                reserved_at=Now(),
                started_at=None,
                claim_seq=Case(
                    *[When(id=i, then=Value(first_seq + n)) for n, i in enumerate(ids, 1)]
                ),
            )
            # Expired by the database's clock, as every vendor judges it.
            expired = ExpressionWrapper(
                Q(expires__isnull=False, expires__lte=Now()), output_field=BooleanField()
            )
            rows = (
                TaskMessage.objects.using(self.using)
                .filter(id__in=ids)
                .annotate(is_expired=expired)
                .order_by("claim_seq")
                .values_list(*codec.CLAIMED_COLUMNS, "is_expired")
            )
            return codec.decode_claimed(rows, loads=revive)

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
            .filter(CLAIMED.q, id=message.id, worker=worker)
            .update(started_at=timezone.now(), state=states.STARTED)
        )
        return n == 1

    # -- outcomes ------------------------------------------------------------------------------

    def finish(self, worker: str, outcomes: Sequence[Outcome]) -> None:
        """
        Record `outcomes` of rows `worker` holds, in one transaction.

        Held -> SUCCESS, FAILURE, RETRY (due at its eta, retries + 1), PENDING (Reject with
        requeue), REJECTED, REVOKED or IGNORED (a custom state set by ``update_state`` is kept).
        An outcome marked ``forget`` (``ignore_result``, ``replace()``) deletes the row and
        its attempts instead. A row revoked or recovered meanwhile is left alone. Follow-up
        messages (chains, links) are enqueued in the same transaction, so a crash never
        drops or doubles them.
        Attempt history rows are written for every outcome but a first-try success.
        A batch the database refuses is recorded again row by row, so one bad outcome costs
        only its own row: that row ends FAILURE (``EncodeError``) saying what was refused.
        A final outcome (IGNORED too) of a chord member counts towards its chord, which the
        last member to finish completes (``_count_chord_parts``).
        """
        if not outcomes:
            return
        try:
            self._finish_batch(worker, outcomes)
        except (DatabaseError, TypeError, ValueError) as exc:
            if self.is_connection_error(exc):
                raise
            logger.warning(
                "finish worker=%s count=%d event=batch-refused error=%r: row by row",
                worker,
                len(outcomes),
                exc,
            )
            for o in outcomes:
                try:
                    self._finish_batch(worker, [o])
                except (DatabaseError, TypeError, ValueError) as row_exc:
                    if self.is_connection_error(row_exc):
                        raise
                    logger.error(
                        "task id=%s state=FAILURE reason=outcome-refused worker=%s error=%r",
                        o.id,
                        worker,
                        row_exc,
                    )
                    self._finish_batch(worker, [_refused(o, row_exc)])

    def _finish_batch(self, worker: str, outcomes: Sequence[Outcome]) -> None:
        """``finish`` for a whole batch in one transaction (it raises if one row fails)."""
        with transaction.atomic(using=self.using):
            # ignore_result and replace(): the row is deleted, not recorded (Celery keeps
            # no state for them); a replacement that reuses the id is enqueued after.
            forgotten = self._forget(worker, [o for o in outcomes if o.forget])
            outcomes = [o for o in outcomes if not o.forget]
            final = [o for o in outcomes if o.state in FINAL_STATES]
            changed = self._record_final(worker, final) if final else {}
            kept = [o for o in final if o.id in changed]
            others = [
                o for o in outcomes if o.state not in FINAL_STATES and self._record_one(worker, o)
            ]
            kept += others
            self._save_attempts([self._attempt(o) for o in kept if self._keeps_attempt(o)])
            follow_ups = [m for o in [*forgotten, *kept] for m in o.follow_ups]
            if follow_ups:
                self.enqueue(follow_ups)
            # Chord members count in the transaction that records their final outcome.
            ignored = [o.id for o in others if o.state == states.IGNORED]
            self._count_chord_parts([g for g in changed.values() if g] + self._group_ids(ignored))

    def _forget(self, worker: str, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Delete the rows of `outcomes` that `worker` still holds; return those outcomes."""
        from ..models import TaskMessage

        if not outcomes:
            return []
        held = set(
            TaskMessage.objects.using(self.using)
            .select_for_update()  # a revoke meanwhile waits, then finds no row
            .filter(self.RECOVER_FROM.q, id__in=[o.id for o in outcomes], worker=worker)
            .values_list("id", flat=True)
        )
        self._delete(sorted(held))
        return [o for o in outcomes if o.id in held]

    def _record_final(self, worker: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        """
        Write final outcomes (SUCCESS, FAILURE, REVOKED, REJECTED) of rows `worker` still
        holds; return the ids written, each with its row's ``group_id`` ("" for none).
        Vendors replace this with one statement per batch.
        """
        written = [o.id for o in outcomes if self._record_one(worker, o)]
        groups = dict(self._group_rows(written))
        return {i: groups.get(i, "") for i in written}

    def _group_rows(self, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(id, group_id) of the rows among `ids` that belong to a group."""
        from ..models import TaskMessage

        if not ids:
            return []
        return list(
            TaskMessage.objects.using(self.using)
            .filter(id__in=list(ids))
            .exclude(group_id="")
            .values_list("id", "group_id")
        )

    def _group_ids(self, ids: Sequence[str]) -> list[str]:
        """The group id of each row among `ids` that belongs to a group."""
        return [g for _, g in self._group_rows(ids)]

    # -- chords --------------------------------------------------------------------------------

    def enqueue_chord(
        self,
        group_id: str,
        messages: Sequence[Message],
        members: Sequence[str],
        callback: dict[str, Any],
    ) -> None:
        """
        Write a chord: its counter (with `callback`, see ``ChordCounter``), then the first
        `messages` of its header, in one transaction.

        `members` are the ids that count, in header order (each with ``group_id``): a
        message's own id, or for a chain in the header the id of the chain's last task.
        The counter is there before any member can finish, so no outcome goes uncounted.
        """
        from ..models import ChordCounter

        with transaction.atomic(using=self.using):
            ChordCounter.objects.using(self.using).create(
                group_id=group_id,
                total=len(members),
                members=list(members),
                callback=callback,
            )
            self.enqueue(messages)

    def _count_chord_parts(self, group_ids: Sequence[str]) -> None:
        """
        Count finished members of chords, one per entry of `group_ids` (the members' group
        ids; groups that are no chord, or whose chord completed, have no counter and count
        nothing). In the caller's transaction, under each counter's row lock, taken in
        group-id order so that two finishers never wait for each other. The member that
        completes a chord sends its callback (``_complete_chord``) and deletes the counter.
        """
        from collections import Counter

        from ..models import ChordCounter

        if not group_ids:
            return
        counts = Counter(group_ids)
        counters = (
            ChordCounter.objects.using(self.using)
            .select_for_update()
            .filter(group_id__in=sorted(counts))
            .order_by("group_id")
        )
        for counter in counters:
            done = counter.done + counts[counter.group_id]
            if done >= counter.total:
                self._complete_chord(counter)
                ChordCounter.objects.using(self.using).filter(group_id=counter.group_id).delete()
            else:
                ChordCounter.objects.using(self.using).filter(group_id=counter.group_id).update(
                    done=done
                )

    def _uncount_chord_parts(self, group_ids: Sequence[str]) -> None:
        """Members requeued before their chord completed will finish (and count) again."""
        from collections import Counter

        from ..models import ChordCounter

        for group_id, n in sorted(Counter(group_ids).items()):
            ChordCounter.objects.using(self.using).filter(group_id=group_id).update(
                done=F("done") - n
            )

    def _complete_chord(self, counter) -> None:
        """
        Every member of `counter`'s chord has finished: send the callback with their results
        in header order; or, when one did not succeed (the first in header order), write the
        callback FAILURE with ``ChordError`` (Celery's message) and send its errbacks.
        """
        from ..models import TaskMessage

        rows = {
            r[0]: r
            for r in TaskMessage.objects.using(self.using)
            .filter(id__in=counter.members)
            .values_list("id", "state", "result", "exc_type", "exc_message")
        }
        results, culprit = [], None
        for member in counter.members:
            row = rows.get(member)
            if row is None or row[1] != states.SUCCESS:
                culprit = _chord_error(member, row)
                break
            results.append(row[2])
        spec = counter.callback
        if culprit is None:
            prepend = () if spec.get("immutable") else (results,)
            self.enqueue([codec.message_from_json(spec["message"], prepend)])
            return
        callback = codec.message_from_json(spec["message"], () if spec.get("immutable") else ([],))
        self.enqueue([callback])
        TaskMessage.objects.using(self.using).filter(id=callback.id).update(
            state=states.FAILURE,
            done_at=Now(),
            result={"exc_type": _CHORD_ERROR, "exc_args": [culprit]},
            exc_type=_CHORD_ERROR,
            exc_message=culprit,
        )
        logger.error(
            "task id=%s name=%s state=FAILURE exc=ChordError(%r)",
            callback.id,
            callback.name,
            culprit,
        )
        errbacks = [codec.message_from_json(e) for e in spec.get("errbacks") or []]
        if errbacks:
            self.enqueue(errbacks)

    def _record_one(self, worker: str, o: Outcome) -> bool:
        """Write one outcome of a row `worker` still holds; say whether it was."""
        from ..models import TaskMessage

        fields = self._outcome_fields(o)
        qs = TaskMessage.objects.using(self.using).filter(
            self.RECOVER_FROM.q, id=o.id, worker=worker
        )
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
                run_at=o.eta or Now(),  # due by the database's clock, as claims judge it
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
                run_at=Now(), worker="", started_at=None, reserved_at=None, redelivered=True
            )
        else:
            fields["done_at"] = now
        return fields

    def update_state(self, task_id: str, state: str, meta: Any) -> bool:
        """Set a running task's custom state and meta (visible at once to other processes)."""
        from ..models import TaskMessage

        return bool(
            TaskMessage.objects.using(self.using)
            .filter(self.RECOVER_FROM.q, id=task_id)
            .update(state=state, result=to_json(meta))
        )

    # -- operator verbs ------------------------------------------------------------------------

    def requeue(self, ids: Iterable[str]) -> int:
        """
        Finished (REQUEUE_FROM: SUCCESS, FAILURE, REVOKED, REJECTED, IGNORED) -> PENDING, due
        now, same id.

        The result and error are cleared; the attempt history is kept, and gains the run
        being replaced when ``finish`` kept none for it (a first run that succeeded), so
        the task page lists it. Returns the number of rows requeued; rows waiting or running
        are skipped. A member of a chord still waiting for its header counts again when it
        finishes again. Safe beside a concurrent requeue: the rows are locked (FOR UPDATE
        where the database has it, the write lock on SQLite) before their run is recorded,
        and the second requeue then finds them PENDING.
        """
        from ..models import TaskAttempt, TaskMessage

        ids = list(ids)
        with transaction.atomic(using=self.using):
            groups = list(
                TaskMessage.objects.using(self.using)
                .filter(self.REQUEUE_FROM.q, id__in=ids)
                .select_for_update()
                .exclude(group_id="")
                .values_list("group_id", flat=True)
            )
            runs = (
                TaskMessage.objects.using(self.using)
                .select_for_update()
                .filter(id__in=ids, state=states.SUCCESS, retries=0)
                .values_list("id", "worker", "started_at", "done_at")
            )
            self._save_attempts(
                [
                    TaskAttempt(
                        task_id=task_id,
                        number=1,
                        state=states.SUCCESS,
                        worker=worker,
                        started_at=started_at,
                        finished_at=done_at or timezone.now(),
                    )
                    for task_id, worker, started_at, done_at in runs
                ]
            )
            n = self._make_due(
                ids,
                self.REQUEUE_FROM,
                state=states.PENDING,
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
            self._uncount_chord_parts(groups)
        return n

    def run_now(self, ids: Iterable[str]) -> int:
        """
        Waiting (RUN_NOW_FROM: PENDING, RETRY) -> due now; the state and retries stay.

        Returns the number of rows changed; others are skipped.
        """
        return self._make_due(ids, self.RUN_NOW_FROM)

    def _make_due(self, ids: Iterable[str], among: StateSet, **fields: Any) -> int:
        """Rows `ids` in `among` -> due now (no eta) with `fields`; wake the workers."""
        from ..models import TaskMessage

        n = (
            TaskMessage.objects.using(self.using)
            .filter(among.q, id__in=list(ids))
            .update(run_at=Now(), eta=None, **fields)
        )
        if n:
            self._wake()
        return n

    def revoke(self, ids: Iterable[str], terminate: bool = False) -> int:
        """
        Waiting or claimed-not-started (REVOKE_FROM) -> REVOKED: it will never run.

        With `terminate`, every row not finished (TERMINATE_FROM) becomes REVOKED; the
        supervisor of a worker running one sees it and kills the child running it. Returns
        the number of rows revoked.
        """
        from ..models import TaskMessage

        fields = {
            "state": states.REVOKED,
            "done_at": timezone.now(),
            "exc_type": "django_tasks.exceptions.TaskRevokedError",
            "exc_message": "revoked",
        }
        base = TaskMessage.objects.using(self.using).filter(id__in=list(ids))
        with transaction.atomic(using=self.using):
            among = self.TERMINATE_FROM if terminate else self.REVOKE_FROM
            # Locked first: a worker finishing one of them meanwhile waits, then finds it
            # revoked (not held), so a chord member counts once, here.
            groups = list(
                base.filter(among.q)
                .select_for_update()
                .exclude(group_id="")
                .values_list("group_id", flat=True)
            )
            n = base.filter(self.REVOKE_FROM.q).update(**fields)
            if terminate:
                n += base.filter(self.TERMINATE_FROM.q).update(
                    **{**fields, "exc_message": "terminated"}
                )
            self._count_chord_parts(groups)
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
        """
        Delete the finished rows (DELETE_FROM) among `ids`, with their attempts.

        Returns the number of rows deleted; rows waiting or running are skipped.
        """
        from ..models import TaskMessage

        with transaction.atomic(using=self.using):
            ids = list(
                TaskMessage.objects.using(self.using)
                .filter(self.DELETE_FROM.q, id__in=list(ids))
                .values_list("id", flat=True)
            )
            return self._delete(ids)

    def _delete(self, ids: Sequence[str]) -> int:
        """
        Delete rows `ids` and their attempts with two plain DELETE statements.

        ``QuerySet.delete()`` would first read every attempt of every row to send signals
        and cascade: nothing listens to these models' signals, and the attempts go in one
        statement. Returns the number of task rows deleted.
        """
        from ..models import TaskAttempt, TaskMessage

        if not ids:
            return 0
        quote = self.connection.ops.quote_name
        marks = ", ".join(["%s"] * len(ids))
        attempts, tasks = TaskAttempt._meta, TaskMessage._meta
        task_fk = attempts.get_field("task").column
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(attempts.db_table)} WHERE {quote(task_fk)} IN ({marks})",  # noqa: S608
                list(ids),
            )
            cursor.execute(
                f"DELETE FROM {quote(tasks.db_table)} WHERE {quote(tasks.pk.column)} IN ({marks})",  # noqa: S608
                list(ids),
            )
            return cursor.rowcount

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
        """
        Record a live worker process, replacing the row of an earlier one of the same name.

        Nothing else changes: rows that earlier process held are still held under the name
        until the caller recovers them (``recover``).
        """
        from ..models import Worker

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

    def unregister(self, name: str, start_marker: int | None = None) -> None:
        """
        Remove a worker process that stopped (or died), after recovering what it holds.

        `start_marker` is its start marker (see ``recover``); a process that stopped
        cleanly holds nothing.
        """
        from ..models import Worker

        self.recover(name, start_marker)
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
            .filter(self.RECOVER_FROM.q, worker=worker)
            .values_list("id", flat=True)
        )

    def release(self, worker: str, delays: Sequence[tuple[str, float]]) -> int:
        """
        Claimed-not-started rows of `worker` (RELEASE_FROM) -> PENDING, each due after its
        delay (seconds, by the database's clock).

        For a warm shutdown (delay 0) and rate limits (due when the next token is). The
        row's retries and redelivered flag are unchanged: it never started.
        """
        from ..models import TaskMessage

        n = 0
        now = [task_id for task_id, delay in delays if not delay]
        delays = [(task_id, delay) for task_id, delay in delays if delay]
        with transaction.atomic(using=self.using):
            if now:  # one statement for the rows due at once (the rest of a batch)
                n += (
                    TaskMessage.objects.using(self.using)
                    .filter(self.RELEASE_FROM.q, id__in=now, worker=worker, started_at__isnull=True)
                    .update(state=states.PENDING, worker="", reserved_at=None, run_at=Now())
                )
            for task_id, delay in delays:
                n += (
                    TaskMessage.objects.using(self.using)
                    .filter(self.RELEASE_FROM.q, id=task_id, worker=worker, started_at__isnull=True)
                    .update(state=states.PENDING, worker="", reserved_at=None, run_at=_later(delay))
                )
        if n:
            self._wake()
        return n

    def _wake(self) -> None:
        """Tell idle workers that rows became claimable (where the database can)."""

    def recover(
        self, worker: str, start_marker: int | None = None, exclude: Iterable[str] = ()
    ) -> tuple[int, int]:
        """
        Release the rows a dead (or stopping) `worker` holds (RECOVER_FROM).

        A row counts as started when its ``claim_seq`` is at most `start_marker` (the
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
        held_q = self.RECOVER_FROM.q
        with transaction.atomic(using=self.using):
            held = TaskMessage.objects.using(self.using).filter(held_q, worker=worker, id__in=ids)
            exclude = list(exclude)
            if exclude:
                held = held.exclude(id__in=exclude)
            started = Q(started_at__isnull=False)
            if start_marker is not None:
                started |= Q(claim_seq__lte=start_marker)
            lost = list(
                held.select_for_update(skip_locked=self.supports_skip_locked)
                .filter(started, acks_late=False)
                .values_list("id", "retries", "started_at", "group_id")
            )
            failed = 0
            if lost:
                failed = (
                    TaskMessage.objects.using(self.using)
                    .filter(held_q, id__in=[i for i, _, _, _ in lost], worker=worker)
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
                        for i, r, s, _ in lost
                    ]
                )
                # A lost member of a chord is a failed member (counted once: rows locked).
                self._count_chord_parts([g for _, _, _, g in lost if g])
            requeued = held.update(
                state=states.PENDING,
                worker="",
                started_at=None,
                reserved_at=None,
                redelivered=True,
                run_at=Now(),
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
            .filter(self.RECOVER_FROM.q)
            .exclude(worker="")
            .exclude(worker__in=Worker.objects.using(self.using).values("name"))
            .values_list("worker", flat=True)
            .distinct()
        )

    def suspect_workers(self, timeout: float, hostname: str | None = None) -> list[dict]:
        """
        Worker rows that may be dead: those whose heartbeat stopped `timeout` seconds ago
        (by the database clock), and every row of `hostname` (this machine).

        Each is a dict with name, supervisor, hostname, pid and ``stale`` (the heartbeat
        stopped). A stale one is dead; whether a fresh one on `hostname` is alive is the
        caller's to find out (by its pid). Nothing changes here: the caller ``unregister``s
        each dead one with its start marker. One query.
        """
        from ..models import Worker

        stale = Q(heartbeat_at__lt=_ago(timeout))
        rows = Worker.objects.using(self.using)
        rows = rows.filter(stale | Q(hostname=hostname)) if hostname else rows.filter(stale)
        rows = rows.annotate(stale=ExpressionWrapper(stale, output_field=BooleanField()))
        return list(rows.values("name", "supervisor", "hostname", "pid", "stale"))

    # -- upkeep --------------------------------------------------------------------------------

    def prune(self, older_than: float, batch_size: int = 1000) -> int:
        """
        Delete finished rows (DELETE_FROM) done more than `older_than` seconds ago (by the
        database's clock), with their attempts, a batch per transaction.
        """
        from ..models import TaskMessage

        total = 0
        while True:
            with transaction.atomic(using=self.using):
                # The dt_done index finds the candidates, oldest first.
                ids = list(
                    TaskMessage.objects.using(self.using)
                    .filter(self.DELETE_FROM.q, done_at__lt=_ago(older_than))
                    .values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    return total
                total += self._delete(ids)

    # -- wake-ups ------------------------------------------------------------------------------

    def listen(self, using: str | None = None):
        """
        Return a ``Listener`` that blocks until work may be ready (None: poll), on a
        connection of its own to database `using` (default: the broker's).
        """
        return None

    def seconds_until_due(self, queues: Sequence[str]) -> float | None:
        """
        Seconds until the earliest waiting row of `queues` is due (<= 0: due now), by the
        database's clock; None when no row waits.
        """
        from ..models import TaskMessage

        due_in = (
            TaskMessage.objects.using(self.using)
            .filter(self.CLAIM_FROM.q, queue__in=list(queues))
            .aggregate(
                due_in=ExpressionWrapper(Min("run_at") - Now(), output_field=DurationField())
            )["due_in"]
        )
        return None if due_in is None else due_in.total_seconds()

    def is_connection_error(self, exc: BaseException) -> bool:
        from django.db import InterfaceError, OperationalError

        return isinstance(exc, OperationalError | InterfaceError)

    def unapplied_migrations(self) -> list[str]:
        """
        The names of django_tasks' migrations not yet applied to this database, oldest first.

        [] when the schema is current. Raises the database's error when it cannot be reached
        (``is_connection_error`` says so): the caller decides whether that is fatal.
        """
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(connections[self.using], ignore_no_migrations=True)
        applied = loader.applied_migrations
        return sorted(
            name
            for app, name in loader.disk_migrations
            if app == "django_tasks"
            if (app, name) not in applied
        )

    # -- the admin -----------------------------------------------------------------------------

    def estimated_count(self) -> int | None:
        """
        Roughly how many task rows there are, from the database's statistics.

        None when the database keeps no such estimate: the caller counts exactly. For the
        admin's list, where COUNT(*) over millions of rows would cost seconds per page.
        """
        return None
