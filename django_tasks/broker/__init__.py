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


conf._on_change.append(_broker_for.cache_clear)

__all__ = ["Broker", "get_broker"]
