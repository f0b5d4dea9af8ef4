"""The queue's verbs over the database: the only place that writes task rows."""

from __future__ import annotations

from functools import cache

from django.db import connections

from .. import conf
from .base import Broker


@cache
def _broker_for(using: str) -> Broker:
    vendor = connections[using].vendor
    if vendor == "postgresql":
        from .postgresql import PostgreSQLBroker

        return PostgreSQLBroker(using)
    if vendor == "sqlite":
        from .sqlite import SQLiteBroker

        return SQLiteBroker(using)
    if vendor == "mysql":
        from .mysql import MySQLBroker

        return MySQLBroker(using)
    return Broker(using)


def get_broker(using: str | None = None) -> Broker:
    """Return the broker for database alias ``using`` (default: ``DJANGO_TASKS['DATABASE']``)."""
    return _broker_for(using or conf.get("DATABASE"))


def migrations_problem(using: str) -> str | None:
    """
    Say which django_tasks migrations database `using` lacks, or None if it has them all.

    None too when the database cannot be reached: that is the worker's retry (or ``--burst``
    failure) to report, not a settings problem.
    """
    broker = get_broker(using)
    try:
        missing = broker.unapplied_migrations()
    except Exception as exc:
        if broker.is_connection_error(exc):
            return None
        raise
    if not missing:
        return None
    names = missing[0] if len(missing) == 1 else f"{missing[0]} to {missing[-1]}"
    return (
        f"Database {using!r} lacks {len(missing)} django_tasks migration"
        f"{'s' if len(missing) > 1 else ''} ({names}): run `python manage.py migrate`."
    )


conf._on_change.append(_broker_for.cache_clear)

__all__ = ["Broker", "get_broker", "migrations_problem"]
