"""The benchmark's task bodies: a no-op, and a probe that reports when it started."""

from __future__ import annotations

import socket
import time

from django_tasks import shared_task

_sock: socket.socket | None = None


@shared_task
def noop() -> None:
    """Do nothing: what is measured is the queue around the body."""


@shared_task
def stamp(port: int, token: str) -> float:
    """
    Send ``"<token> <time.time()>"`` by UDP to the harness on 127.0.0.1:`port`, first thing.

    The harness blocks on its socket, so it learns the start time at once without polling the
    database (which would load the server the latency is measured on). The time is also
    returned, so it is stored as the result.
    """
    global _sock
    started = time.time()
    if _sock is None:
        _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _sock.sendto(f"{token} {started:.6f}".encode(), ("127.0.0.1", port))
    return started
