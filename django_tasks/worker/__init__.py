"""The worker: a supervisor, its pool of consumers, heartbeats, limits and shutdown."""

from .supervisor import Supervisor

__all__ = ["Supervisor"]
