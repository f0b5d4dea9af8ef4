"""Periodic upkeep a supervisor does: recover the rows of workers that died."""

from __future__ import annotations

import contextlib
import logging

from django.db import connections

from .slots import UNKNOWN, read_markers, slot_path

logger = logging.getLogger("django_tasks.worker.maintenance")


class DeadWorkerRecovery:
    """
    Find workers whose heartbeat stopped (or whose process is gone, on this host) and give
    their rows back: what they had started fails (acks early) or is redelivered (acks
    late), what they had only claimed returns to the queue.

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
        dead = self.broker.dead_workers(self.timeout, self.hostname)
        files = set()
        for w in dead:
            through = UNKNOWN
            if w["hostname"] == self.hostname:
                path = slot_path(self.key, w["supervisor"] or w["name"])
                markers = read_markers(path)
                if markers is not None:
                    through = markers.get(w["name"])
                    files.add(path)
            logger.warning(
                "worker name=%s event=dead host=%s pid=%s marker=%s",
                w["name"],
                w["hostname"],
                w["pid"],
                "unknown" if through == UNKNOWN else through,
            )
            self.broker.recover(w["name"], started_through=through)
            self.broker.forget_worker(w["name"])
        for name in self.broker.orphan_holders():
            self.broker.recover(name, started_through=UNKNOWN)
        for path in files:
            _remove_if_supervisor_gone(path, dead)
        return len(dead)


def _remove_if_supervisor_gone(path, dead) -> None:
    """Delete a dead supervisor's slot file once its supervisor row is gone."""
    supervisors = {w["name"] for w in dead if not w["supervisor"]}
    if any(path.name.endswith(f"-{name}.slots") for name in supervisors):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _database_key(broker) -> str:
    from .slots import database_key

    return database_key(connections[broker.using].settings_dict)
