"""
The start marker: a file of slots in shared memory, one per consumer, that outlives them.

A consumer runs its claimed rows in ``claim_seq`` order and, before each body starts,
writes that row's sequence number into its slot: a plain memory write into a file mapped
with MAP_SHARED (under /dev/shm where it exists), so it costs no system call and no
database round trip, yet survives the death of every process of the worker: the kernel
keeps the page. Whoever recovers the worker on this host reads the slots: rows numbered up
to a consumer's marker had started (acks early: FAILURE with WorkerLostError), the rest had
not (back to the queue). The supervisor also reads them live: what each consumer runs, for
hard time limits and revoke-terminate.

The file's header carries the supervisor's lease: the monotonic time of its last heartbeat
the database accepted. A consumer starts no task once the lease is older than half the
heartbeat timeout, so no row is ever started by a worker that others may already have
recovered.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import mmap
import os
import tempfile
import time
from pathlib import Path

_MAGIC = b"DTSLOTS2"
#: Bytes a slot keeps of a task id: 64 characters (the column) of up to 4 bytes each.
TASK_ID_BYTES = 256
#: Sequence number meaning "whether any row started is unknown": recover them as started.
UNKNOWN = 2**62


class Slot(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 200),  # the consumer's worker name
        ("pid", ctypes.c_int),
        ("start_marker", ctypes.c_longlong),  # the start marker: last claim_seq started
        # The running task's id in UTF-8: its 64 characters take at most 256 bytes.
        ("task_id", ctypes.c_char * TASK_ID_BYTES),
        ("started", ctypes.c_double),  # wall clock of the running body; 0.0 while idle
        ("hard_limit", ctypes.c_double),  # seconds; 0.0 for none
    ]

    def claim_for(self, name: str, pid: int) -> None:
        """Give this slot to a new consumer (nothing started yet)."""
        self.started = 0.0
        self.start_marker = 0
        self.pid = pid
        self.name = name.encode()[:200]

    def begin(self, task_id: str, claim_seq: int, hard_limit: float | None) -> None:
        """Mark row `claim_seq` (`task_id`) as started: written before its body runs."""
        self.started = 0.0
        self.task_id = task_id.encode("utf-8", "replace")[:TASK_ID_BYTES]
        self.hard_limit = float(hard_limit or 0.0)
        if claim_seq > self.start_marker:
            self.start_marker = claim_seq
        self.started = time.time()

    def end(self) -> None:
        self.started = 0.0

    @property
    def current(self) -> str | None:
        return self.task_id.decode("utf-8", "replace") if self.started > 0.0 else None

    def over_limit(self, now: float) -> bool:
        started, limit = self.started, self.hard_limit
        return started > 0.0 and limit > 0.0 and now - started > limit


class Header(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_char * 8),
        ("supervisor", ctypes.c_char * 200),
        ("lease", ctypes.c_double),  # time.monotonic() of the last accepted heartbeat
        ("count", ctypes.c_int),
    ]


class SlotFile:
    """`count` slots in a shared file named after the supervisor and the database."""

    def __init__(self, path: Path, supervisor: str, count: int) -> None:
        self.path = path
        size = ctypes.sizeof(Header) + count * ctypes.sizeof(Slot)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.header = Header.from_buffer(self._map)
        self.header.supervisor = supervisor.encode()[:200]
        self.header.count = count
        self.header.lease = time.monotonic()
        self.slots = (Slot * count).from_buffer(self._map, ctypes.sizeof(Header))
        self.header.magic = _MAGIC

    def __getitem__(self, index: int) -> Slot:
        return self.slots[index]

    def renew_lease(self) -> None:
        self.header.lease = time.monotonic()

    def lease_valid(self, timeout: float) -> bool:
        """May consumers start tasks? (the last accepted heartbeat is recent enough)"""
        return time.monotonic() - self.header.lease < timeout / 2

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_markers(path: Path) -> dict[str, int] | None:
    """A dead worker's start markers by consumer name, or None when its file is gone."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < ctypes.sizeof(Header):
        return None
    header = Header.from_buffer_copy(data)
    if header.magic != _MAGIC:
        return None
    markers = {}
    offset = ctypes.sizeof(Header)
    for i in range(header.count):
        start = offset + i * ctypes.sizeof(Slot)
        if start + ctypes.sizeof(Slot) > len(data):
            break
        slot = Slot.from_buffer_copy(data, start)
        if slot.name:
            markers[slot.name.decode()] = slot.start_marker
    return markers


def state_dir() -> Path:
    """Where slot files live: /dev/shm (memory, survives processes) or the temp dir."""
    shm = Path("/dev/shm")  # noqa: S108 - memory that outlives processes, by design
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return base / "django_tasks"


def slot_path(database_key: str, supervisor: str) -> Path:
    return state_dir() / f"{database_key}-{supervisor}.slots"


def database_key(settings_dict: dict) -> str:
    """A short name for one database, so workers of different databases never mix files."""
    ident = "|".join(str(settings_dict.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME"))
    return hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:12]
