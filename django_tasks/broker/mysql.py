"""MySQL 8 / MariaDB 10.6+: the portable ORM broker with SKIP LOCKED claims."""

from __future__ import annotations

from .base import Broker


class MySQLBroker(Broker):
    supports_skip_locked = True
