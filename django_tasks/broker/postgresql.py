"""PostgreSQL: SKIP LOCKED claims, LISTEN/NOTIFY wake-ups, one statement per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import connections, transaction

from .. import conf
from ..message import Message, Outcome
from ..serialization import dumps
from . import codec
from .base import Broker
from .predicates import CLAIMABLE, HELD

logger = logging.getLogger(__name__)

TABLE = "django_tasks_taskmessage"
CHANNEL = "django_tasks"

# enqueue: new rows -> PENDING, due at their eta or now (the database's clock), and a NOTIFY
# per queue so idle workers claim at once. Inside a transaction the NOTIFY is delivered at
# commit, so no worker wakes for rows it cannot see yet. {values} is where the rows come
# from: fourteen columns v(...) in the order of codec.ENQUEUE_COLUMNS.
_ENQUEUE = f"""
    WITH ins AS (
        INSERT INTO {TABLE} (id, name, queue, priority, args, kwargs, state, run_at, eta,
                             expires, retries, max_retries, acks_late, redelivered, options,
                             parent_id, group_id, exc_type, exc_message, traceback, worker,
                             created_at)
        SELECT v.id, v.name, v.queue, v.priority, v.args::jsonb, v.kwargs::jsonb, 'PENDING',
               COALESCE(v.eta, now()), v.eta, v.expires, v.retries, v.max_retries,
               v.acks_late, false, v.options::jsonb, v.parent_id, v.group_id, '', '', '', '',
               now()
          FROM {{values}} AS v({", ".join(codec.ENQUEUE_COLUMNS)})
        RETURNING queue)
    SELECT pg_notify('{CHANNEL}', q) FROM (SELECT DISTINCT queue AS q FROM ins) AS queues"""

# enqueue a batch: one array per column.
ENQUEUE = _ENQUEUE.format(
    values="""unnest(
            %s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::text[],
            %s::timestamptz[], %s::timestamptz[], %s::int[], %s::int[], %s::bool[],
            %s::text[], %s::text[], %s::text[])"""
)

# enqueue one row: VALUES (cheaper to run than unnest for a single row).
ENQUEUE_ONE = _ENQUEUE.format(
    values="""(VALUES (
            %s, %s, %s, %s::int, %s, %s, %s::timestamptz, %s::timestamptz, %s::int, %s::int,
            %s::bool, %s, %s, %s))"""
)

# enqueue many: COPY for large batches (several times faster than INSERT for thousands of
# rows); the nullable columns left out are NULL.
COPY_THRESHOLD = 500
COPY = f"""
    COPY {TABLE} ({", ".join(codec.ENQUEUE_COLUMNS)}, run_at, created_at,
                  state, redelivered, exc_type, exc_message, traceback, worker)
    FROM STDIN"""

# claim: due PENDING/RETRY -> RECEIVED, numbered first_seq + 1, + 2, ... in the order the
# worker will run them. Safe with concurrent workers: SKIP LOCKED hands each row to one
# claimer; MATERIALIZED fences the planner, so LIMIT bounds the rows updated.
# Per served queue: a LATERAL takes each queue's first `limit` due rows in priority order
# from dt_claim (queue, priority, run_at), so a claim reads only its queues' due rows,
# whatever waits in the others. Priorities keep their meaning across the served queues:
# the best `limit` rows of all of them are among the per-queue bests, and the outer ORDER
# BY picks them. (Rows a LATERAL locked that the outer LIMIT leaves are unlocked when the
# statement commits, a moment later.) "id = ANY(ARRAY(...))" makes the UPDATE find its rows
# by primary key (without it the planner may hash-join the whole table against the batch).
CLAIM = f"""
    WITH ready AS MATERIALIZED (
        SELECT id, row_number() OVER (ORDER BY priority DESC, run_at) AS rn
          FROM (SELECT c.id, c.priority, c.run_at
                  FROM unnest(%(queues)s::text[]) AS q(queue)
                 CROSS JOIN LATERAL (
                       SELECT id, priority, run_at FROM {TABLE}
                        WHERE {CLAIMABLE.sql()} AND queue = q.queue AND run_at <= now()
                        ORDER BY priority DESC, run_at
                        LIMIT %(limit)s
                          FOR UPDATE SKIP LOCKED) AS c
                 ORDER BY c.priority DESC, c.run_at
                 LIMIT %(limit)s) AS locked)
    UPDATE {TABLE} AS t
       SET state = 'RECEIVED', worker = %(worker)s, reserved_at = now(), started_at = NULL,
           claim_seq = %(first_seq)s + ready.rn
      FROM ready
     WHERE t.id = ready.id AND t.id = ANY(ARRAY(SELECT id FROM ready))
    RETURNING t.id, t.name, t.args::text, t.kwargs::text, t.queue, t.priority, t.retries,
              t.eta, t.expires, t.options::text, t.redelivered, t.claim_seq,
              (t.expires IS NOT NULL AND t.expires <= now())"""
# (RETURNING: codec.CLAIMED_COLUMNS, then expired by the database's clock.)

# ack (track_started only): RECEIVED -> STARTED with started_at, visible to other
# processes at once. Committed asynchronously (synchronous_commit off for this one
# transaction): it is a progress report, not the start marker recovery relies on (that one
# is in shared memory, see django_tasks/worker/slots.py). The WHERE makes a row revoked or
# recovered meanwhile return nothing: the worker then does not run it.
ACK = f"""
    UPDATE {TABLE} AS t
       SET started_at = now(), state = 'STARTED'
      FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
     WHERE t.id = %(id)s AND t.worker = %(worker)s AND t.state = 'RECEIVED'
    RETURNING t.id"""

# finish (final states): held -> SUCCESS/FAILURE/REVOKED/REJECTED for a whole batch in one
# statement. Rows revoked, recovered or requeued meanwhile (no longer held by this worker)
# are left alone; RETURNING says which rows changed so only their follow-ups are enqueued,
# and their groups (a chord member counts towards its chord).
FINISH = f"""
    UPDATE {TABLE} AS t
       SET state = v.state, result = v.result, exc_type = v.exc_type,
           exc_message = v.exc_message, traceback = v.traceback, done_at = now(),
           started_at = COALESCE(t.started_at, v.started_at)
      FROM jsonb_to_recordset(%(rows)s::jsonb)
           AS v(id text, state text, result jsonb, exc_type text, exc_message text,
                traceback text, started_at timestamptz)  -- "id", then codec.FINAL_COLUMNS
     WHERE t.id = v.id AND t.worker = %(worker)s AND {HELD.sql("t.state")}
    RETURNING t.id, t.group_id"""

# seconds until the earliest waiting row of the served queues is due, by the database's
# clock (one clock for every host): one dt_due entry per served queue, whatever waits in
# the others.
NEXT_DUE = f"""
    SELECT EXTRACT(EPOCH FROM min(d.run_at) - now())::float8
      FROM unnest(%(queues)s::text[]) AS q(queue)
     CROSS JOIN LATERAL (
           SELECT run_at FROM {TABLE}
            WHERE {CLAIMABLE.sql()} AND queue = q.queue
            ORDER BY run_at
            LIMIT 1) AS d"""

# estimated_count: the planner's row estimate, kept by (auto)vacuum and analyze; one catalog
# row, whatever the size of the table (COUNT(*) reads every row).
ESTIMATED_COUNT = "SELECT reltuples FROM pg_class WHERE oid = %s::regclass"


_LENIENT_LOADER = None


def _lenient_timestamptz_loader():
    """
    A timestamptz loader that returns 'infinity' and '-infinity' as text, not raising.

    For claims only: psycopg cannot load them into a datetime, and one such row written by
    hand would fail the whole claim's fetch (and be claimed again, forever). As text, the
    codec ends that row with a ``DecodeError`` naming the column.
    """
    global _LENIENT_LOADER
    if _LENIENT_LOADER is None:
        from psycopg.types.datetime import TimestamptzLoader

        class LenientTimestamptzLoader(TimestamptzLoader):
            def load(self, data):
                if bytes(data).endswith(b"infinity"):
                    return bytes(data).decode()
                return super().load(data)

        _LENIENT_LOADER = LenientTimestamptzLoader
    return _LENIENT_LOADER


def _values(m: Message, dumps_options) -> tuple:
    """A message's 14 values (codec.ENQUEUE_COLUMNS), as ENQUEUE, ENQUEUE_ONE and COPY take them."""
    return codec.enqueue_values(m, *m.wire_args(), dumps_options(m.options))


#: A prepare_threshold no statement reaches: psycopg prepares only those executed with
#: prepare=True (the broker's), never Django's own.
_ONLY_WHEN_ASKED = 1 << 30
#: Set when the server said a prepared statement is unknown or already exists: a pooler in
#: transaction mode (PgBouncer < 1.21) moved the session. Prepares stay off in this process.
_PREPARES_REFUSED = False


def _prepares() -> bool:
    """
    Prepare statements server-side? ``PREPARED_STATEMENTS`` (default True) unless a pooler
    refused them: PgBouncer before 1.21 in transaction mode cannot carry them (the next
    transaction may run on another server connection, where the name is unknown or names
    another statement), so set ``PREPARED_STATEMENTS = False`` there; the first refusal
    also turns them off for the rest of the process, with one warning.
    """
    return not _PREPARES_REFUSED and conf.get("PREPARED_STATEMENTS")


def _refuse_prepares(using: str) -> None:
    global _PREPARES_REFUSED
    if not _PREPARES_REFUSED:
        _PREPARES_REFUSED = True
        logger.warning(
            "database=%s event=prepared-statements-refused: the server lost a prepared "
            "statement (a pooler in transaction mode, such as PgBouncer < 1.21?); this "
            "process runs unprepared from now on: set DJANGO_TASKS['PREPARED_STATEMENTS'] "
            "= False for this database",
            using,
        )


class PostgreSQLBroker(Broker):
    supports_skip_locked = True
    supports_notify = True
    insert_batch_size = 5000

    def _execute(self, sql: str, params: Any, lenient_dates: bool = False):
        """
        Run one of this module's statements as a server-side prepared statement.

        Django's psycopg cursors bind parameters client-side, so every call is new SQL text
        that PostgreSQL plans again (beside this table's partial indexes the plan costs more
        than the statement: ``delay()`` runs 1.4-1.5x faster prepared). A plain psycopg
        cursor on the same connection binds server-side and prepares once per connection;
        it shares Django's transaction, and errors are wrapped into Django's as its own
        cursors' are.
        """
        import psycopg

        connection = self.connection
        connection.ensure_connection()
        prepare = _prepares()
        with connection.wrap_database_errors:
            raw = connection.connection
            if prepare and raw.prepare_threshold is None:
                # Django's default (None) makes psycopg prepare nothing, even when asked.
                # A threshold no statement reaches prepares only what asks (prepare=True:
                # these statements); Django's client-side cursors never prepare.
                raw.prepare_threshold = _ONLY_WHEN_ASKED
            cursor = self._cursor(raw, lenient_dates)
            try:
                cursor.execute(sql, params, prepare=prepare)
            except (
                psycopg.errors.InvalidSqlStatementName,
                psycopg.errors.DuplicatePreparedStatement,
            ):
                if not prepare:
                    raise
                _refuse_prepares(self.using)
                if connection.in_atomic_block:
                    raise  # the transaction is aborted: the caller's retry runs unprepared
                cursor = self._cursor(raw, lenient_dates)  # autocommit: nothing was done
                cursor.execute(sql, params, prepare=False)
            return cursor

    @staticmethod
    def _cursor(raw, lenient_dates: bool):
        import psycopg

        cursor = psycopg.Cursor(raw)
        if lenient_dates:
            cursor.adapters.register_loader("timestamptz", _lenient_timestamptz_loader())
        return cursor

    def enqueue(self, messages: Sequence[Message]) -> None:
        if len(messages) == 1:
            self._execute(ENQUEUE_ONE, _values(messages[0], dumps)).close()
        elif len(messages) < COPY_THRESHOLD:
            size = self.insert_batch_size
            for start in range(0, len(messages), size):
                rows = [_values(m, dumps) for m in messages[start : start + size]]
                columns = [list(column) for column in zip(*rows, strict=True)]
                self._execute(ENQUEUE, columns).close()
        else:
            self._copy(messages)

    def _copy(self, messages: Sequence[Message]) -> None:
        """
        Write many rows with COPY, then NOTIFY each queue, in one transaction.

        COPY cannot call now(): the rows take the transaction's now() (one clock), read first
        in the same transaction, so they are due exactly as an INSERT would make them.
        """
        dumps_options = codec.options_encoder()

        with transaction.atomic(using=self.using):
            now = self._execute("SELECT now()", ()).fetchone()[0]
            connection = self.connection
            with connection.wrap_database_errors:
                cursor = connection.connection.cursor()
                with cursor.copy(COPY) as copy:
                    for m in messages:
                        copy.write_row(
                            (
                                *_values(m, dumps_options),
                                m.eta or now,
                                now,
                                "PENDING",
                                False,
                                "",
                                "",
                                "",
                                "",
                            )
                        )
            for queue in sorted({m.queue for m in messages}):
                self._execute(f"SELECT pg_notify('{CHANNEL}', %s)", (queue,)).close()

    def claim(
        self, worker: str, queues: Sequence[str], limit: int, first_seq: int = 0
    ) -> list[Message]:
        cursor = self._execute(
            CLAIM,
            {"queues": list(queues), "limit": limit, "worker": worker, "first_seq": first_seq},
            lenient_dates=True,
        )
        with self.connection.wrap_database_errors:
            rows = cursor.fetchall()
        return codec.decode_claimed(rows)

    def ack(self, worker: str, message: Message) -> bool:
        cursor = self._execute(ACK, {"id": message.id, "worker": worker})
        with self.connection.wrap_database_errors:
            return cursor.fetchone() is not None

    def _record_final(self, worker: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        columns = ("id", *codec.FINAL_COLUMNS)
        rows = dumps(
            [
                dict(
                    zip(
                        columns,
                        (
                            o.id,
                            *codec.final_values(
                                o, o.result, o.started_at.isoformat() if o.started_at else None
                            ),
                        ),
                        strict=True,
                    )
                )
                for o in outcomes
            ]
        )
        cursor = self._execute(FINISH, {"rows": rows, "worker": worker})
        with self.connection.wrap_database_errors:
            return dict(cursor.fetchall())

    def _wake(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_notify('{CHANNEL}', '*')")

    def seconds_until_due(self, queues: Sequence[str]) -> float | None:
        cursor = self._execute(NEXT_DUE, {"queues": list(queues)})
        with self.connection.wrap_database_errors:
            return cursor.fetchone()[0]

    def is_connection_error(self, exc: BaseException) -> bool:
        import psycopg

        return super().is_connection_error(exc) or isinstance(
            exc, psycopg.OperationalError | psycopg.InterfaceError
        )

    def listen(self, using: str | None = None) -> Listener:
        return Listener(connections[using or self.using].get_connection_params())

    def estimated_count(self) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(ESTIMATED_COUNT, [TABLE])
            row = cursor.fetchone()
        # reltuples is -1 until the table was first vacuumed or analyzed: no estimate yet.
        return int(row[0]) if row and row[0] >= 0 else None


class Listener:
    """A connection of its own that LISTENs, so an idle worker wakes when rows arrive."""

    def __init__(self, params: dict[str, Any]) -> None:
        import psycopg

        params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> list[str]:
        """Block up to `timeout` seconds for notifications; return the queue each names."""
        queues: list[str] = []
        gen = self._conn.notifies(timeout=timeout, stop_after=1)
        for n in gen:
            queues.append(n.payload)
        # Drain whatever else arrived at once, without blocking.
        if queues:
            for n in self._conn.notifies(timeout=0):
                queues.append(n.payload)
        return queues

    def fileno(self) -> int:
        return self._conn.fileno()

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # closing a broken connection must not raise
            logger.debug("listener close failed", exc_info=True)
