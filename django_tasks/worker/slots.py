"""
Shared memory between a consumer and its supervisor: what each consumer is running now.

A consumer writes its slot before and after each task body (plain memory writes, no
system call); the supervisor reads it to enforce hard time limits, to terminate revoked
tasks and, when a consumer dies, to say which task it died in and why.
"""

from __future__ import annotations

import ctypes
import time
from multiprocessing.sharedctypes import RawArray


class Slot(ctypes.Structure):
    _fields_ = [
        ("task_id", ctypes.c_char * 64),
        ("started", ctypes.c_double),  # wall clock; 0.0 while idle
        ("hard_limit", ctypes.c_double),  # seconds; 0.0 for none
        ("pid", ctypes.c_int),
    ]

    def begin(self, task_id: str, hard_limit: float | None) -> None:
        """Mark the body of `task_id` as running now (idle marker cleared last)."""
        self.started = 0.0
        self.task_id = task_id.encode()[:64]
        self.hard_limit = float(hard_limit or 0.0)
        self.started = time.time()

    def end(self) -> None:
        self.started = 0.0

    @property
    def busy(self) -> bool:
        return self.started > 0.0

    @property
    def current(self) -> str | None:
        return self.task_id.decode() if self.started > 0.0 else None

    def over_limit(self, now: float) -> bool:
        started, limit = self.started, self.hard_limit
        return started > 0.0 and limit > 0.0 and now - started > limit


def make_slots(n: int):
    """`n` slots in memory shared with processes forked afterwards."""
    return RawArray(Slot, n)
