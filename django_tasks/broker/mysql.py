"""
MariaDB >= 10.6 / MySQL >= 8.0.1: SKIP LOCKED claims, batch statements, polling wake-ups.

MySQL has no partial indexes (Django creates the model's partial indexes there without their
condition, i.e. over every row) and no UPDATE ... RETURNING. So:

- migration 0007 replaces the partial indexes with indexes on two virtual columns that are
  NULL outside the index's predicate (``SCHEMA``): a claim scans only waiting rows, in the
  claim's order, however large the finished history;
- a claim is a transaction of two statements: SELECT ... FOR UPDATE SKIP LOCKED in index
  order (each row goes to one claimer; READ COMMITTED, Django's default isolation level on
  MySQL, keeps the locks to the rows returned), then one UPDATE by primary key;
- a batch of final outcomes is one SELECT ... FOR UPDATE (which rows are still held) and one
  UPDATE;
- "now" is ``UTC_TIMESTAMP(6)``, the server's clock in UTC (how Django stores datetimes);
  a session whose time zone is not UTC is refused at start, as Django's ``Now()`` (used
  by the portable verbs) would then be off by hours;
- there is no NOTIFY: an idle worker's own connection looks every 50 ms at the newest row's
  creation time (one index probe), so a new task wakes it within milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC

from django.core.exceptions import ImproperlyConfigured

from ..message import Message, Outcome
from ..serialization import dumps
from . import codec
from .base import Broker, PollingWatcher
from .predicates import CLAIMABLE, HELD

logger = logging.getLogger(__name__)

TABLE = "django_tasks_taskmessage"
NOW = "UTC_TIMESTAMP(6)"

#: The oldest servers with SELECT ... FOR UPDATE SKIP LOCKED.
MIN_MARIADB = (10, 6)
MIN_MYSQL = (8, 0, 1)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


# -- schema: what stands in for PostgreSQL's partial indexes (migration 0007) ----------------
# dt_claim_rank is -priority on waiting rows and NULL on every other row, so the index
# (dt_claim_rank, run_at) holds the claim's order (priority DESC, run_at) in one direction
# (MariaDB before 10.8 ignores DESC in an index) and "dt_claim_rank IS NOT NULL" scans only
# waiting rows. dt_held_by is the worker of held rows, NULL otherwise: recovery reads only a
# dead worker's held rows, not its history. Virtual columns cost no storage in the table;
# the index keeps their values. done_at, parent_id and group_id keep Django's full indexes:
# a claim never changes those columns, so it writes no entry there. dt_failed becomes
# (state, created_at), which serves the admin's "failed" filter (Django's would be a copy of
# dt_created).
_REPLACED = ("dt_claimable", "dt_held", "dt_failed")
SCHEMA = (
    *(f"DROP INDEX {name} ON {TABLE}" for name in _REPLACED),
    f"""ALTER TABLE {TABLE}
        ADD COLUMN dt_claim_rank INT AS (IF({CLAIMABLE.sql()}, -priority, NULL)) VIRTUAL,
        ADD COLUMN dt_held_by VARCHAR(255) AS (IF({HELD.sql()}, worker, NULL)) VIRTUAL""",
    f"CREATE INDEX dt_claimable ON {TABLE} (dt_claim_rank, run_at)",
    f"CREATE INDEX dt_held ON {TABLE} (dt_held_by)",
    f"CREATE INDEX dt_failed ON {TABLE} (state, created_at)",
)
# Back to what Django's migrations 0001-0004 make on MySQL (the indexes without condition).
UNSCHEMA = (
    *(f"DROP INDEX {name} ON {TABLE}" for name in _REPLACED),
    f"ALTER TABLE {TABLE} DROP COLUMN dt_claim_rank, DROP COLUMN dt_held_by",
    f"CREATE INDEX dt_claimable ON {TABLE} (priority DESC, run_at)",
    f"CREATE INDEX dt_held ON {TABLE} (worker)",
    f"CREATE INDEX dt_failed ON {TABLE} (created_at DESC)",
)

# -- statements ---------------------------------------------------------------------------------
# enqueue: {rows} is one _ENQUEUE_ROW per row: the fourteen codec.ENQUEUE_COLUMNS, then the
# eta again for the due time (the eta, or now by the server's clock).
ENQUEUE = f"""
    INSERT INTO {TABLE} ({", ".join(codec.ENQUEUE_COLUMNS)}, state, run_at, created_at,
                         redelivered, exc_type, exc_message, traceback, worker)
    VALUES {{rows}}"""
_ENQUEUE_ROW = (
    f"({_marks(len(codec.ENQUEUE_COLUMNS))},"
    f" 'PENDING', COALESCE(%s, {NOW}), {NOW}, 0, '', '', '', '')"
)

# claim, step 1: lock up to LIMIT due waiting rows in run order, passing over rows other
# claimers hold (SKIP LOCKED). The index walk stops after LIMIT rows: no sort, so no lock on
# rows beyond them. Columns: codec.CLAIMED_COLUMNS (claim_seq comes in step 2), then expired.
CLAIM = f"""
    SELECT id, name, args, kwargs, queue, priority, retries, eta, expires, options,
           redelivered, NULL, expires IS NOT NULL AND expires <= {NOW}
      FROM {TABLE} FORCE INDEX (dt_claimable)
     WHERE dt_claim_rank IS NOT NULL AND queue IN ({{queues}}) AND run_at <= {NOW}
     ORDER BY dt_claim_rank, run_at
     LIMIT %s
       FOR UPDATE SKIP LOCKED"""
# claim, step 2: the locked rows -> RECEIVED, numbered first_seq + their place in the claim.
CLAIM_MARK = f"""
    UPDATE {TABLE}
       SET state = 'RECEIVED', worker = %s, reserved_at = {NOW}, started_at = NULL,
           claim_seq = %s + FIELD(id, {{ids}})
     WHERE id IN ({{ids}})"""

# finish (final states), step 1: which of the rows are still this worker's (revoked or
# recovered ones are not), with their groups (a chord member counts towards its chord),
# locked until the transaction ends.
HELD_AMONG = f"""
    SELECT id, group_id FROM {TABLE}
     WHERE id IN ({{ids}}) AND worker = %s AND {HELD.sql()}
       FOR UPDATE"""
# step 2: one UPDATE for the batch; ELT(FIELD(id, ids), values) picks each row's value.
FINISH = f"""
    UPDATE {TABLE}
       SET state = ELT(FIELD(id, {{ids}}), {{values}}),
           result = ELT(FIELD(id, {{ids}}), {{values}}),
           exc_type = ELT(FIELD(id, {{ids}}), {{values}}),
           exc_message = ELT(FIELD(id, {{ids}}), {{values}}),
           traceback = ELT(FIELD(id, {{ids}}), {{values}}),
           started_at = COALESCE(started_at, ELT(FIELD(id, {{ids}}), {{values}})),
           done_at = {NOW}
     WHERE id IN ({{ids}})"""  # SET in the order of codec.FINAL_COLUMNS

# seconds until the earliest waiting row is due, by the server's clock (dt_claimable).
NEXT_DUE = f"""
    SELECT TIMESTAMPDIFF(MICROSECOND, {NOW}, MIN(run_at)) / 1e6 FROM {TABLE}
     WHERE dt_claim_rank IS NOT NULL AND queue IN ({{queues}})"""

HELD_BY = f"SELECT id FROM {TABLE} WHERE dt_held_by = %s"

ORPHANS = f"""
    SELECT DISTINCT dt_held_by FROM {TABLE}
     WHERE dt_held_by IS NOT NULL AND dt_held_by <> ''
       AND dt_held_by NOT IN (SELECT name FROM django_tasks_worker)"""

# The newest row's creation time: one probe at the start of the dt_created index (MariaDB
# reads the whole index for MAX() over a descending one; ORDER BY ... LIMIT 1 reads one).
NEWEST = f"SELECT created_at FROM {TABLE} ORDER BY created_at DESC LIMIT 1"

# Rows in the table, from InnoDB's statistics (no scan).
ESTIMATED_COUNT = """
    SELECT TABLE_ROWS FROM information_schema.TABLES
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"""

SERVER = f"SELECT VERSION(), TIMESTAMPDIFF(SECOND, {NOW}, NOW(6))"


def server_problem(version: str, utc_offset: int) -> str | None:
    """What makes server `version` (``SELECT VERSION()``) unfit, or None; `utc_offset` is
    its session's NOW() - UTC_TIMESTAMP() in seconds."""
    mariadb = "mariadb" in version.lower()
    numbers = tuple(int(p) for p in version.split("-")[0].split(".")[:3] if p.isdigit())
    least = MIN_MARIADB if mariadb else MIN_MYSQL
    product = "MariaDB" if mariadb else "MySQL"
    if numbers < least:
        return (
            f"django_tasks needs {product} {'.'.join(map(str, least))} or newer (for "
            f"SELECT ... FOR UPDATE SKIP LOCKED); this server is {product} {version}."
        )
    if utc_offset:
        return (
            f"django_tasks needs the database session's time zone to be UTC (Django stores "
            f"UTC, and its Now() is the session's clock); this one is {utc_offset:+d} s off. "
            "Set DATABASES[...]['OPTIONS']['init_command'] = \"SET time_zone = '+00:00'\", or "
            "the server's default_time_zone."
        )
    return None


class MySQLBroker(Broker):
    supports_skip_locked = True
    insert_batch_size = 1000

    _checked = False

    def check_server(self) -> None:
        """Raise ImproperlyConfigured when the server cannot run the queue (once a process)."""
        if self._checked:
            return
        with self.connection.cursor() as cursor:
            cursor.execute(SERVER)
            version, offset = cursor.fetchone()
        problem = server_problem(version, int(offset))
        if problem:
            raise ImproperlyConfigured(f"{problem} (database {self.using!r})")
        self._checked = True

    @contextmanager
    def _transaction(self):
        """
        One transaction in two round trips fewer than atomic()'s: START TRANSACTION and
        COMMIT on the cursor (atomic() also switches autocommit off and on again). Inside a
        caller's atomic block, the statements join it.
        """
        connection = self.connection
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                yield cursor
                return
            cursor.execute("START TRANSACTION")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    # -- enqueue -----------------------------------------------------------------------------

    def enqueue(self, messages: Sequence[Message]) -> None:
        adapt = self.connection.ops.adapt_datetimefield_value
        dumps_options = codec.options_encoder()

        size = self.insert_batch_size
        with self.connection.cursor() as cursor:
            for start in range(0, len(messages), size):
                batch = messages[start : start + size]
                params: list = []
                for m in batch:
                    values = list(codec.enqueue_values(m, *m.wire_args(), dumps_options(m.options)))
                    values[6], values[7] = adapt(values[6]), adapt(values[7])  # eta, expires
                    params += values
                    params.append(values[6])  # run_at: the eta, or now
                cursor.execute(ENQUEUE.format(rows=", ".join([_ENQUEUE_ROW] * len(batch))), params)

    # -- claim -------------------------------------------------------------------------------

    def claim(
        self, worker: str, queues: Sequence[str], limit: int, first_seq: int = 0
    ) -> list[Message]:
        with self._transaction() as cursor:
            cursor.execute(CLAIM.format(queues=_marks(len(queues))), [*queues, limit])
            rows = cursor.fetchall()
            if not rows:
                return []
            ids = [r[0] for r in rows]
            marks = _marks(len(ids))
            cursor.execute(CLAIM_MARK.format(ids=marks), [worker, first_seq, *ids, *ids])
        # A row that cannot be decoded comes back marked, to end FAILURE (never re-claimed).
        return codec.decode_claimed(
            [(*r[:11], first_seq + n, r[12]) for n, r in enumerate(rows, 1)], to_datetime=_aware
        )

    # -- outcomes ----------------------------------------------------------------------------

    def _record_final(self, worker: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        # finish() holds a transaction open around this: the rows stay locked until its end.
        adapt = self.connection.ops.adapt_datetimefield_value
        with self.connection.cursor() as cursor:
            ids = [o.id for o in outcomes]
            cursor.execute(HELD_AMONG.format(ids=_marks(len(ids))), [*ids, worker])
            held = dict(cursor.fetchall())
            kept = [o for o in outcomes if o.id in held]
            if not kept:
                return {}
            ids = [o.id for o in kept]
            columns = list(
                zip(
                    *(
                        codec.final_values(
                            o, None if o.result is None else dumps(o.result), adapt(o.started_at)
                        )
                        for o in kept
                    ),
                    strict=True,
                )
            )
            marks = _marks(len(ids))
            params: list = []
            for column in columns:
                params += [*ids, *column]
            cursor.execute(FINISH.format(ids=marks, values=marks), [*params, *ids])
        return held

    # -- reads served by the virtual-column indexes -------------------------------------------

    def seconds_until_due(self, queues: Sequence[str]) -> float | None:
        with self.connection.cursor() as cursor:
            cursor.execute(NEXT_DUE.format(queues=_marks(len(queues))), list(queues))
            due_in = cursor.fetchone()[0]
        return None if due_in is None else float(due_in)

    def _held_ids(self, worker: str) -> list[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(HELD_BY, [worker])
            return [r[0] for r in cursor.fetchall()]

    def orphan_holders(self) -> list[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(ORPHANS)
            return [r[0] for r in cursor.fetchall()]

    # -- workers -----------------------------------------------------------------------------

    def register(self, name: str, **kwargs) -> None:
        self.check_server()  # a worker on an unfit server stops at start, saying why
        super().register(name, **kwargs)

    def listen(self, using: str | None = None) -> NewRowWatcher:
        from django.db import connections

        return NewRowWatcher(connections[using or self.using].get_connection_params())

    def is_connection_error(self, exc: BaseException) -> bool:
        import MySQLdb

        return super().is_connection_error(exc) or isinstance(
            exc, MySQLdb.OperationalError | MySQLdb.InterfaceError
        )

    def estimated_count(self) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(ESTIMATED_COUNT, [TABLE])
            row = cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])


def _aware(value):
    """MySQL returns naive datetimes; Django stores UTC there."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class NewRowWatcher(PollingWatcher):
    """
    Wake an idle worker when a task row is written (there is no NOTIFY on MySQL).

    Its own autocommit connection reads the newest row's created_at every 50 ms: one probe
    at the end of an index, a few microseconds of server time. Rows made due again (a
    requeue, a recovery) are found by the worker's POLL_INTERVAL poll.
    """

    def __init__(self, params: dict) -> None:
        import MySQLdb

        self._conn = MySQLdb.connect(**params)
        self._conn.autocommit(True)
        self._start()

    def _read(self):
        cursor = self._conn.cursor()
        try:
            cursor.execute(NEWEST)
            row = cursor.fetchone()
            return row and row[0]
        finally:
            cursor.close()

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # closing a broken connection must not raise
            logger.debug("watcher close failed", exc_info=True)
