"""The benchmark app: its tasks, and an optional log of every statement a process sends."""

from __future__ import annotations

import os
import time

from django.apps import AppConfig
from django.db.backends.signals import connection_created

#: When set (the idle-cost phase sets it for the worker it starts), every statement the
#: process sends appends ``"<time> <pid> <SQL head>"`` to this file.
QUERY_LOG_ENV = "BENCH_QUERY_LOG"


class BenchConfig(AppConfig):
    name = "bench"
    verbose_name = "Benchmark"

    def ready(self) -> None:
        path = os.environ.get(QUERY_LOG_ENV)
        if path:
            log = _QueryLog(path)
            log.patch_psycopg()
            log.patch_sqlite3()
            connection_created.connect(log.install, weak=False)


class _QueryLog:
    """
    Logs statements at the driver: psycopg's ``Cursor.execute`` (Django's PostgreSQL cursors
    and the raw psycopg cursors the broker and its LISTEN connection use all go through it),
    Django's execute wrappers for the other databases, and ``execute`` on connections opened
    with ``sqlite3.connect`` outside Django (the SQLite broker's wake-up watcher).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, sql) -> None:
        if not isinstance(sql, str | bytes):
            sql = getattr(sql, "as_string", lambda _ctx=None: str(sql))(None)
        if isinstance(sql, bytes):
            sql = sql.decode(errors="replace")
        head = " ".join(sql.split())[:160]
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{time.time():.6f} {os.getpid()} {head}\n".encode())
        finally:
            os.close(fd)

    def patch_psycopg(self) -> None:
        try:
            import psycopg
        except ImportError:
            return
        original = psycopg.Cursor.execute
        log = self

        def execute(cursor, query, *args, **kwargs):
            log.write(query)
            return original(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = execute

    def patch_sqlite3(self) -> None:
        import sqlite3

        log = self

        class LoggingConnection(sqlite3.Connection):
            def execute(self, sql, *args, **kwargs):
                log.write(sql)
                return super().execute(sql, *args, **kwargs)

        original = sqlite3.connect

        def connect(*args, **kwargs):
            kwargs.setdefault("factory", LoggingConnection)
            return original(*args, **kwargs)

        # Django connects through sqlite3.dbapi2.connect, which this leaves alone: its
        # statements are logged by the execute wrapper instead.
        sqlite3.connect = connect

    def install(self, sender, connection, **kwargs) -> None:
        if connection.vendor != "postgresql" and self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def __call__(self, execute, sql, params, many, context):
        self.write(sql)
        return execute(sql, params, many, context)
