"""
Celery's bootsteps, by name only: importable, and using them says what to use instead.

``class MyStep(bootsteps.StartStopStep)`` raises ``NotImplementedError`` at import (the
earliest point): the ``runtasks`` worker has no blueprint of steps to extend.
"""

from __future__ import annotations

from typing import Any

#: What to use instead of a bootstep.
INSTEAD = (
    "the runtasks worker has no steps to extend; run code at worker start or stop with the "
    "worker signals (worker_init, worker_ready, worker_shutdown), per process with "
    "app.on_after_fork, or in a management command of your own"
)


def unsupported(what: str) -> NotImplementedError:
    """The error for using `what`, one of Celery's bootsteps."""
    return NotImplementedError(f"{what}: Celery's bootsteps are not supported: {INSTEAD}.")


class Step:
    """Celery's ``bootsteps.Step``: subclassing it raises ``NotImplementedError``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__module__ == __name__:
            return  # Celery's own step classes, defined here
        base = next(b for b in cls.__mro__[1:] if b.__module__ == __name__)
        raise unsupported(f"class {cls.__qualname__}(bootsteps.{base.__name__})")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise unsupported(f"bootsteps.{type(self).__name__}()")


class StartStopStep(Step):
    """Celery's ``bootsteps.StartStopStep`` (not supported)."""


class ConsumerStep(StartStopStep):
    """Celery's ``bootsteps.ConsumerStep`` (not supported)."""


class Blueprint:
    """Celery's ``bootsteps.Blueprint`` (not supported)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise unsupported("bootsteps.Blueprint()")


class StepSet:
    """``app.steps['worker']``: adding a step raises, naming it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def add(self, step: Any) -> None:
        raise unsupported(f"app.steps[{self.name!r}].add({getattr(step, '__name__', step)!r})")

    update = add

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<app.steps[{self.name!r}]: bootsteps are not supported>"


class Steps(dict):
    """``app.steps``: Celery's ``{'worker': set(), 'consumer': set()}``, adding raises."""

    def __init__(self) -> None:
        super().__init__(worker=StepSet("worker"), consumer=StepSet("consumer"))

    def __missing__(self, name: str) -> StepSet:
        raise KeyError(f"app.steps has 'worker' and 'consumer', not {name!r}.")
