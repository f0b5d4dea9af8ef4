"""SQLite: one writer at a time, so a claim is one UPDATE that takes the write lock first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from django.conf import settings
from django.utils import timezone

from ..message import Message, Outcome
from ..serialization import dumps
from . import codec
from .base import Broker, PollingWatcher
from .predicates import CLAIMABLE, HELD

TABLE = "django_tasks_taskmessage"

# The database's clock, in the text form Django stores datetimes in here (UTC, as
# "YYYY-MM-DD HH:MM:SS.ffffff"; Django's Now() writes the same to the millisecond):
# comparing stored values with it as text compares the times. One clock for every process.
# (%% as every statement here takes parameters: Django turns %% into % then.)
NOW = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
# The end of the clock's current millisecond ('now' has no finer resolution): "x < NOW_END"
# is "x is now or past", so a row enqueued a microsecond ago is due at once, as it is by
# the host's clock.
NOW_END = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '+0.001 seconds')"

# claim: due PENDING/RETRY -> RECEIVED, numbered first_seq + 1, + 2, ... in run order.
# SQLite has no SKIP LOCKED and needs none: an UPDATE takes the database's write lock
# before its sub-SELECT reads, so two workers never read the same ready rows; the second
# waits (busy timeout) and then sees them RECEIVED. Due and expired are judged by NOW_END.
# {ready} is one CLAIM_QUEUE per served queue joined by UNION ALL: each reads only its
# queue's due rows from dt_claim (queue, priority, run_at); the best `limit` of them all
# are the claim, so priorities keep their meaning across the served queues. INDEXED BY:
# without statistics SQLite prefers dt_due for "run_at < now", then sorts every due row of
# the queue; dt_claim reads them in priority order and stops at the limit.
# RETURNING: codec.CLAIMED_COLUMNS, then expired.
CLAIM = f"""
    UPDATE {TABLE}
       SET state = 'RECEIVED', worker = %s, reserved_at = {NOW}, started_at = NULL,
           claim_seq = %s + ready.rn
      FROM (SELECT id, row_number() OVER (ORDER BY priority DESC, run_at) AS rn
              FROM (SELECT id, priority, run_at FROM ({{ready}})
                     ORDER BY priority DESC, run_at
                     LIMIT %s)) AS ready
     WHERE {TABLE}.id = ready.id
    RETURNING id, name, args, kwargs, queue, priority, retries, eta, expires, options,
              redelivered, claim_seq, expires IS NOT NULL AND expires < {NOW_END}"""
# One served queue's best due rows (parameters: the queue, the limit).
CLAIM_QUEUE = f"""
    SELECT * FROM (SELECT id, priority, run_at FROM {TABLE} INDEXED BY dt_claim
                    WHERE {CLAIMABLE.sql()} AND queue = %s AND run_at < {NOW_END}
                    ORDER BY priority DESC, run_at
                    LIMIT %s)"""

# finish (final states), one row per statement in one transaction (no network here, the
# statements are cheap): held -> SUCCESS/FAILURE/REVOKED/REJECTED. States are literals so
# SQLite can use the partial indexes; a row no longer held by this worker is left alone.
FINISH = f"""
    UPDATE {TABLE}
       SET state = %s, result = %s, exc_type = %s, exc_message = %s, traceback = %s,
           started_at = COALESCE(started_at, %s), done_at = {NOW}
     WHERE id = %s AND worker = %s AND {HELD.sql()}
    RETURNING id, group_id"""

# seconds until due, by NOW: states as literals, so the partial index dt_due serves it (a
# bound "state IN (?, ?)" cannot match a partial index in SQLite: that scanned the whole
# table). {due} is one NEXT_DUE_QUEUE per served queue joined by UNION ALL.
NEXT_DUE = f"""
    SELECT (julianday(min(run_at)) - julianday({NOW})) * 86400.0 FROM ({{due}})"""
# One served queue's earliest waiting row (parameter: the queue).
NEXT_DUE_QUEUE = f"""
    SELECT * FROM (SELECT run_at FROM {TABLE} INDEXED BY dt_due
                    WHERE {CLAIMABLE.sql()} AND queue = %s
                    ORDER BY run_at
                    LIMIT 1)"""

HELD_BY = f"""
    SELECT id FROM {TABLE} WHERE {HELD.sql()} AND worker = %s"""

ORPHANS = f"""
    SELECT DISTINCT worker FROM {TABLE}
     WHERE {HELD.sql()} AND worker <> ''
       AND worker NOT IN (SELECT name FROM django_tasks_worker)"""


class SQLiteBroker(Broker):
    insert_batch_size = 200

    def _record_final(self, worker: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        adapt = self.connection.ops.adapt_datetimefield_value
        changed = {}
        with self.connection.cursor() as cursor:
            for o in outcomes:
                cursor.execute(
                    FINISH,
                    [
                        *codec.final_values(
                            o,
                            None if o.result is None else dumps(o.result),
                            adapt(o.started_at),
                        ),
                        o.id,
                        worker,
                    ],
                )
                row = cursor.fetchone()
                if row is not None:
                    changed[row[0]] = row[1]
        return changed

    def seconds_until_due(self, queues: Sequence[str]) -> float | None:
        if not queues:
            return None
        with self.connection.cursor() as cursor:
            due = " UNION ALL ".join([NEXT_DUE_QUEUE] * len(queues))
            cursor.execute(NEXT_DUE.format(due=due), list(queues))
            return cursor.fetchone()[0]

    def _held_ids(self, worker: str) -> list[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(HELD_BY, [worker])
            return [r[0] for r in cursor.fetchall()]

    def orphan_holders(self) -> list[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(ORPHANS)
            return [r[0] for r in cursor.fetchall()]

    def claim(
        self, worker: str, queues: Sequence[str], limit: int, first_seq: int = 0
    ) -> list[Message]:
        if not queues:
            return []
        sql = CLAIM.format(ready=" UNION ALL ".join([CLAIM_QUEUE] * len(queues)))
        params = [worker, first_seq, *(p for q in queues for p in (q, limit)), limit]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return codec.decode_claimed(rows, to_datetime=self._datetime)

    def listen(self, using: str | None = None) -> DataVersionWatcher | None:
        """Watch the database file for commits by other connections (no NOTIFY here)."""
        from django.db import connections

        name = connections[using or self.using].settings_dict["NAME"]
        if not name or str(name) == ":memory:" or str(name).startswith("file:"):
            return None
        return DataVersionWatcher(str(name))

    def _datetime(self, value):
        if value is None:
            return None
        from django.utils.dateparse import parse_datetime

        try:
            parsed = parse_datetime(value) if isinstance(value, str) else value
        except ValueError:
            parsed = None
        if parsed is None:
            return value  # not a date: the codec names the column and the value
        if parsed is not None and settings.USE_TZ and timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed


class DataVersionWatcher(PollingWatcher):
    """
    Wake an idle worker when another connection commits to the database file.

    ``PRAGMA data_version`` changes whenever another connection commits; reading it costs
    no disk I/O (it is in the shared WAL index), so checking it every 50 ms gives SQLite
    workers a wake-up within milliseconds without polling the queue table.
    """

    def __init__(self, path: str) -> None:
        import sqlite3

        self._conn = sqlite3.connect(path, timeout=1, check_same_thread=False)
        self._start()

    def _read(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        self._conn.close()
