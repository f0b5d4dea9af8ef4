"""Fixtures of the django.tasks backend tests: burst workers, executions, signal records."""

from __future__ import annotations

import pytest


@pytest.fixture
def burst(runtasks):
    """``burst(*args)``: run a ``--burst`` runtasks worker until it exits 0; return it."""

    def run(*args: str, timeout: float = 60):
        worker = runtasks("--burst", "-c", "1", *args)
        code = worker.wait(timeout=timeout)
        assert code == 0, worker.output()
        return worker

    return run


@pytest.fixture
def executions():
    """``executions(prefix)``: the keys in tests_execution starting with `prefix`, in order."""
    from tests.models import Execution

    def read(prefix: str = "") -> list[str]:
        return list(
            Execution.objects.filter(key__startswith=prefix)
            .order_by("id")
            .values_list("key", flat=True)
        )

    return read
