"""Celery's rate limit strings and the token bucket that enforces them per process."""

from __future__ import annotations

import time

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(rate: str | int | float | None) -> float | None:
    """
    Return ``rate`` in tasks per second: ``"10/s"``, ``"100/m"``, ``"1000/h"`` (as in
    Celery, only the unit's first letter counts: ``"10/sec"``, ``"100/minute"``) or a number
    (per second). ``None`` and 0 mean no limit.
    """
    if rate is None:
        return None
    if isinstance(rate, bool):
        raise TypeError(f"rate limit must be a string like '10/m' or a number, not {rate!r}")
    if isinstance(rate, int | float):
        if rate < 0:
            raise ValueError(f"rate limit must not be negative, not {rate!r}")
        return float(rate) or None
    if not isinstance(rate, str):
        raise TypeError(f"rate limit must be a string like '10/m' or a number, not {rate!r}")
    count, _, unit = rate.strip().partition("/")
    try:
        value = float(count)
    except ValueError:
        raise ValueError(f"rate limit {rate!r} is not like '10/s', '100/m' or '1000/h'") from None
    unit = (unit.strip() or "s")[0].lower()
    if unit not in _UNITS or value < 0 or value != value or value == float("inf"):
        raise ValueError(f"rate limit {rate!r} is not like '10/s', '100/m' or '1000/h'")
    return (value / _UNITS[unit]) or None


class TokenBucket:
    """
    Allow ``rate`` events per second on average, in bursts of up to ``capacity``.

    ``wait_time()`` says how long until the next token; ``consume()`` takes one if there is
    one. Not thread-safe: each worker process (or thread) keeps its own buckets.
    """

    def __init__(self, rate: float, capacity: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def consume(self) -> bool:
        """Take one token if one is there; say whether it was."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
