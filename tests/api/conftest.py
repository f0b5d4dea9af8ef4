"""Fixtures of the task API tests: burst workers on the API settings, a scratch registry."""

from __future__ import annotations

import json

import pytest

from django_tasks import app


@pytest.fixture
def burst(runtasks):
    """
    ``burst(*args, extra={...}, env={...})``: run a ``--burst`` worker on the API settings
    (the API task modules imported, DJANGO_TASKS updated with `extra`) until it exits 0.
    """

    def run(*args: str, extra: dict | None = None, env: dict | None = None, timeout: float = 60):
        full_env = dict(env or {})
        if extra:
            full_env["DJANGO_TASKS_EXTRA"] = json.dumps(extra)
        worker = runtasks(
            "--settings", "tests.api.settings", "--burst", "-c", "1", *args, env=full_env
        )
        code = worker.wait(timeout=timeout)
        assert code == 0, worker.output()
        return worker

    return run


@pytest.fixture
def worker(runtasks):
    """
    ``worker(*args)``: a long-running worker on the API settings (stopped after the test).

    For tasks that wait for a retry a few seconds away, which ``--burst`` would wait for:
    the test waits for the states it wants, then ``stop(w)`` ends the worker (warm).
    """

    def start(*args: str, extra: dict | None = None, env: dict | None = None):
        full_env = dict(env or {})
        if extra:
            full_env["DJANGO_TASKS_EXTRA"] = json.dumps(extra)
        return runtasks("--settings", "tests.api.settings", *args, env=full_env)

    return start


@pytest.fixture
def scratch():
    """The app, with every task a test defines unregistered afterwards."""
    before = set(app.tasks)
    yield app
    for name in set(app.tasks) - before:
        app.tasks.unregister(name)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """
    ``with committed(): add.delay(1, 2)``: in a test's transaction, tasks are written on
    commit; this runs those on-commit writes when the block ends, as a commit would.
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)
