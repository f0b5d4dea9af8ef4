"""Custom task classes: base=, abstract, one instance per process, the four handlers."""

import pytest

from django_tasks import Task, app, states
from django_tasks.trace import ExceptionInfo
from tests.api import bodies
from tests.api.guide import classes, classes_behind, inheritance
from tests.api.guide.stubs import Database

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls():
    bodies.CALLS.clear()
    return bodies.CALLS


def test_handlers_of_a_success_run_in_celerys_order_with_celerys_arguments(calls):
    result = bodies.recorded.apply(("ok", 1), {"k": 2})
    assert calls == [
        ("on_success", result.id, "ok", ("ok", 1), {"k": 2}),
        ("after_return", result.id, states.SUCCESS, "ok", ("ok", 1), {"k": 2}, None),
    ]


def test_handlers_of_a_failure_get_the_exception_and_its_einfo(calls):
    result = bodies.recorded.apply(("fail",))
    (failure, after) = calls
    assert failure[:2] == ("on_failure", result.id)
    exc, args, kwargs, einfo = failure[2:]
    assert (type(exc), args, kwargs) == (ValueError, ("fail",), {})
    assert isinstance(einfo, ExceptionInfo) and einfo.exception is exc
    assert einfo.type is ValueError
    assert 'raise ValueError("recorded failure")' in einfo.traceback == str(einfo)
    assert after == ("after_return", result.id, states.FAILURE, exc, ("fail",), {}, einfo)


def test_a_retry_calls_on_retry_and_not_after_return(calls):
    result = bodies.recorded.apply(("retry",))
    assert [c[0] for c in calls] == ["on_retry", "on_success", "after_return"]
    exc, einfo = calls[0][2], calls[0][5]
    assert isinstance(exc, ConnectionError) and str(exc) == "recorded retry"
    assert "Retry in 0s: ConnectionError('recorded retry')" in einfo.traceback
    assert result.state == states.SUCCESS


def test_a_failing_handler_is_logged_and_never_changes_the_tasks_state(caplog):
    ok = bodies.broken_handlers.apply()
    failed = bodies.broken_handlers.apply((True,))
    assert (ok.state, ok.get()) == (states.SUCCESS, "the task's own result")
    assert failed.state == states.FAILURE
    assert isinstance(failed.result, KeyError)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if "handler=" in r.getMessage()]
    name = "tests.api.bodies.broken_handlers"
    assert logged == [
        ("ERROR", f"task id={ok.id} name={name} handler=on_success failed"),
        ("ERROR", f"task id={ok.id} name={name} handler=after_return failed"),
        ("ERROR", f"task id={failed.id} name={name} handler=on_failure failed"),
        ("ERROR", f"task id={failed.id} name={name} handler=after_return failed"),
    ]
    assert all(r.exc_info for r in caplog.records if "handler=" in r.getMessage())


def test_a_custom_call_is_how_the_task_runs():
    assert bodies.custom_call.apply((1,)).get() == ["wrapped", [1, False]]
    assert bodies.custom_call(1) == ["wrapped", [1, True]]


def test_abstract_bases_are_never_registered():
    names = set(app.tasks)
    assert "tests.api.guide.classes.DatabaseTask" not in names
    assert "tests.api.guide.classes.DebugTask" not in names
    assert "tests.api.guide.inheritance.MyTask" not in names  # no run(): a base class
    assert "tests.api.bodies.Recording" not in names


def test_a_class_with_run_is_a_task_named_after_its_module_and_class():
    server = app.tasks["tests.api.guide.classes.NaiveAuthenticateServer"]
    assert isinstance(server, classes.NaiveAuthenticateServer)
    assert server.users == {"george": "password"}  # __init__ ran once, at registration
    assert server.apply(("george", "password")).get() is True
    assert server.apply(("george", "wrong")).get() is False
    assert server.apply(("nobody", "x")).get() is False


def test_the_guides_behind_the_scenes_class_is_the_registered_task():
    assert classes_behind.add.name == "tests.api.guide.classes_behind._AddTask"
    assert isinstance(classes_behind.add, classes_behind._AddTask)
    assert classes_behind.add.apply((2, 3)).get() == 5
    assert app.Task is Task


def test_database_task_caches_its_connection_on_the_one_instance():
    before = Database.connections
    first = bodies.db_probe.apply().get()
    second = bodies.db_probe.apply().get()
    assert first[0] == second[0]
    assert Database.connections - before <= 1
    assert app.tasks["tests.api.bodies.db_probe"] is bodies.db_probe
    assert classes.process_rows.apply().state == states.SUCCESS
    assert classes.process_rows.db is classes.process_rows.db


def test_debug_tasks_after_return_prints_the_request(capsys):
    assert classes.add.apply((1, 2)).get() == 3
    printed = capsys.readouterr().out
    assert printed.startswith("Task returned: Request(id=")
    assert "task='tests.api.guide.classes.add'" in printed


def test_the_guides_mytask_prints_on_failure(capsys):
    result = inheritance.add.apply((1, 2))
    assert result.state == states.FAILURE
    assert capsys.readouterr().out == f"'{result.id}' failed: KeyError()\n"
