"""Periodic upkeep a supervisor does: recover the rows of workers that died."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from django.db import connections

from .slots import UNKNOWN, read_markers, slot_path

logger = logging.getLogger("django_tasks.worker.maintenance")


class DeadWorkerRecovery:
    """
    Find workers whose heartbeat stopped (or whose process is gone, on this host: the broker
    lists this host's workers, this class probes their pids) and give their rows back: what
    they had started fails (acks early) or is redelivered (acks late), what they had only
    claimed returns to the queue.

    On this host the dead worker's slot file says exactly which rows had started. From
    another host it cannot be read: every row the worker held is then counted as started,
    so an acks-early task is never run twice; acks-late ones are redelivered either way.
    """

    def __init__(self, broker, hostname: str, timeout: float) -> None:
        self.broker = broker
        self.hostname = hostname
        self.timeout = timeout
        self.key = _database_key(broker)

    def run(self) -> int:
        suspects = self.broker.suspect_workers(self.timeout, self.hostname)
        dead = [w for w in suspects if self._dead(w)]
        files = set()
        for w in dead:
            marker = UNKNOWN
            if w["hostname"] == self.hostname:
                path = slot_path(self.key, w["supervisor"] or w["name"])
                markers = read_markers(path)
                if markers is not None:
                    marker = markers.get(w["name"])
                    files.add(path)
            logger.warning(
                "worker name=%s event=dead host=%s pid=%s marker=%s",
                w["name"],
                w["hostname"],
                w["pid"],
                "unknown" if marker == UNKNOWN else marker,
            )
            self.broker.unregister(w["name"], start_marker=marker)
        for name in self.broker.orphan_holders():
            self.broker.recover(name, start_marker=UNKNOWN)
        for path in files:
            _remove_if_supervisor_gone(path, dead)
        return len(dead)

    def _dead(self, worker: dict) -> bool:
        """A stale heartbeat is death; on this host, so is a pid with no process."""
        if worker["stale"]:
            return True
        return worker["hostname"] == self.hostname and not process_exists(worker["pid"])


def process_exists(pid: int) -> bool:
    """Is there a live process `pid` on this machine? (signal 0 probes without signalling)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """
    Has `pid` exited, not yet reaped by another process? (A killed worker's child waits
    for init to reap it.) Our own exited children are not: this supervisor reaps them and
    settles what they held itself (a hard time limit's outcome, for one).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[:1] == ["Z"] and fields[1:2] != [str(os.getpid())]


def _remove_if_supervisor_gone(path, dead) -> None:
    """Delete a dead supervisor's slot file once its supervisor row is gone."""
    supervisors = {w["name"] for w in dead if not w["supervisor"]}
    if any(path.name.endswith(f"-{name}.slots") for name in supervisors):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _database_key(broker) -> str:
    from .slots import database_key

    return database_key(connections[broker.using].settings_dict)
