"""
Wake-ups: the supervisor alone listens to the database, and wakes one idle consumer per
notification through a pipe its consumers share.

Each consumer used to hold a LISTEN connection of its own besides its working one (two
connections per consumer), and every NOTIFY woke every idle consumer to race for the same
rows. Now the supervisor holds the only listening connection; for each notification it
writes one byte into a pipe. Idle consumers wait on the pipe's read end and read one byte
each (non-blocking: a consumer that loses the race for a byte waits on), so a byte wakes
exactly one. A byte written while every consumer is busy stays in the pipe: no wake-up is
lost, at worst one claim finds nothing. A woken consumer whose claim came back full passes
the wake-up on, so a large enqueue brings in as many consumers as it has work for. An idle
consumer that is never woken still claims at its safety poll.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import time

from .. import conf

logger = logging.getLogger("django_tasks.worker.wakeup")

#: Bytes written per wake-up; the pipe holds tens of thousands before a write would block
#: (then the wake-up is dropped: that many are pending already).
_BYTE = b"w"


class WakePipe:
    """A pipe shared by a supervisor and its consumers (forked children or threads)."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def wake(self, count: int = 1) -> None:
        """Wake up to `count` idle consumers (each takes one byte)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._w, _BYTE * max(0, min(count, 64)))

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a wake-up meant for this consumer."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                ready, _, _ = select.select([self._r], [], [], left)
            except InterruptedError:  # pragma: no cover - PEP 475 retries select itself
                continue
            if not ready:
                return False
            try:
                if os.read(self._r, 1):
                    return True
            except BlockingIOError:
                continue  # another consumer took that byte

    def close(self) -> None:
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


class Waker:
    """
    The supervisor's side: one listener (LISTEN on PostgreSQL, the data version on SQLite)
    turned into wake-ups of its consumers, or polling when the database cannot listen.
    """

    def __init__(self, broker, queues, pipe: WakePipe, name: str) -> None:
        self.broker = broker
        self.queues = set(queues)
        self.pipe = pipe
        self.name = name
        self._listener = None
        self._retry_at = 0.0
        self._logged = False

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for notifications; wake one consumer for each."""
        if self._listener is None and time.monotonic() >= self._retry_at:
            self._open()
        if self._listener is None:
            time.sleep(timeout)
            return
        try:
            payloads = self._listener.wait(timeout)
        except Exception as exc:
            if not self.broker.is_connection_error(exc):
                raise
            logger.warning("worker name=%s event=listen-lost error=%r", self.name, exc)
            self.close()
            self._retry_at = time.monotonic() + 1.0
            self.pipe.wake(64)  # rows may have arrived unseen: let the consumers look
            return
        count = sum(1 for p in payloads if p == "*" or p in self.queues)
        if count:
            self.pipe.wake(count)

    def _open(self) -> None:
        using = conf.get("LISTEN_DATABASE")
        try:
            self._listener = None if using is False else self.broker.listen(using)
        except Exception as exc:
            if not self.broker.is_connection_error(exc):
                raise
            self._retry_at = time.monotonic() + 1.0
            return
        if not self._logged:
            self._logged = True
            how = "listen" if self._listener is not None else "poll"
            where = "off" if using is False else (using or self.broker.using)
            logger.info(
                "worker name=%s event=wakeups mode=%s listen_database=%s", self.name, how, where
            )
        if self._listener is not None:
            self.pipe.wake(64)  # rows may have arrived before listening began
        else:
            self._retry_at = float("inf")

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
