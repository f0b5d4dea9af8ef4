"""Task names and the registry: automatic and explicit names, the relative-import pitfall."""

import importlib
import re
import sys
import textwrap
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_tasks import app, states
from django_tasks.exceptions import NotRegistered
from django_tasks.models import TaskMessage
from tests import tasks
from tests.factories import TaskAttemptFactory, TaskMessageFactory


def test_automatic_name_is_the_module_path_and_function_name():
    assert tasks.add.name == "tests.tasks.add"
    assert app.tasks["tests.tasks.add"] is tasks.add


def test_explicit_names_as_in_the_guide(scratch):
    @app.task(name="sum-of-two-numbers")
    def add(x, y):
        return x + y

    assert add.name == "sum-of-two-numbers"

    @app.task(name="tasks.add")
    def add(x, y):  # noqa: F811 - the guide redefines it
        return x + y

    assert add.name == "tasks.add"


def test_two_functions_under_one_name_fail_at_import_naming_both(scratch):
    @app.task(name="mail.send")
    def send(to):
        pass

    here = "tests.api.test_naming.test_two_functions_under_one_name_fail_at_import_naming_both"
    expected = (
        f"Task name 'mail.send' is used by {here}.<locals>.send and "
        f"{here}.<locals>.send_again; set name= on one."
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):

        @app.task(name="mail.send")
        def send_again(to):
            pass

    assert app.tasks["mail.send"] is send


def test_not_registered_is_a_key_error_listing_close_names():
    expected = (
        "No task is registered as 'tests.tasks.ad'. Close names: 'tests.tasks.add'. "
        "Is its module imported (an installed app's tasks module or "
        "DJANGO_TASKS['IMPORTS'])?"
    )
    with pytest.raises(NotRegistered, match=re.escape(expected)):
        app.tasks["tests.tasks.ad"]
    with pytest.raises(KeyError):
        app.tasks["nope"]


def test_not_registered_names_the_task_imported_under_another_package_path():
    # The worker got "tasks.add" from a client that imported tests/tasks.py as "tasks".
    with pytest.raises(NotRegistered, match=re.escape("Close names: 'tests.tasks.add'")):
        app.tasks["tasks.add"]


def test_built_in_tasks_are_registered():
    assert {"django_tasks.backend_cleanup", "django_tasks.starmap"} <= set(app.tasks)
    assert repr(app.tasks["django_tasks.backend_cleanup"]) == (
        "<@task: django_tasks.backend_cleanup>"
    )


@pytest.mark.django_db
def test_backend_cleanup_deletes_finished_results_older_than_result_expires(settings):
    settings.DJANGO_TASKS = {"RESULT_EXPIRES": 3600}
    long_ago = timezone.now() - timedelta(hours=2)
    old = TaskMessageFactory(state=states.SUCCESS, created_at=long_ago, done_at=long_ago)
    TaskAttemptFactory(task=old)
    old_failure = TaskMessageFactory(state=states.FAILURE, created_at=long_ago, done_at=long_ago)
    recent = TaskMessageFactory(state=states.SUCCESS, done_at=timezone.now())
    waiting = TaskMessageFactory(state=states.PENDING, created_at=long_ago)
    cleanup = app.tasks["django_tasks.backend_cleanup"]
    assert cleanup.apply().get() is None  # ignore_result: the count is not kept
    assert set(TaskMessage.objects.values_list("id", flat=True)) == {recent.id, waiting.id}
    assert old_failure.id not in TaskMessage.objects.values_list("id", flat=True)
    assert cleanup() == 0  # called directly it returns how many rows it deleted


# -- the relative-import pitfall -------------------------------------------------------------------


@pytest.fixture
def importable(tmp_path, scratch):
    """Write modules under a temporary sys.path entry; forget them afterwards."""
    added, before = [], set(sys.modules)

    def write(relpath: str, source: str, *path_entries: str):
        target = tmp_path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))
        for entry in path_entries:
            full = str(tmp_path / entry)
            if full not in sys.path:
                sys.path.insert(0, full)
                added.append(full)
        importlib.invalidate_caches()

    yield write
    for entry in added:
        sys.path.remove(entry)
    for name in set(sys.modules) - before:
        del sys.modules[name]


TASK_MODULE = """
    from django_tasks import app

    @app.task
    def mytask():
        return "ran"
"""


def test_one_function_imported_under_two_module_paths_says_which_name_to_use(importable):
    importable("proj/__init__.py", "")
    importable("proj/myapp/__init__.py", "")
    importable("proj/myapp/tasks.py", TASK_MODULE, ".", "proj")
    from proj.myapp.tasks import mytask  # << GOOD

    assert mytask.name == "proj.myapp.tasks.mytask"
    expected = (
        "Task function myapp.tasks.mytask is imported under two module paths, as "
        "'proj.myapp.tasks.mytask' and 'myapp.tasks.mytask': import it one way only "
        "(the path of its installed app, the relative-import pitfall), or give it an "
        "explicit name, e.g. name='proj.myapp.tasks.mytask'."
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
        importlib.import_module("myapp.tasks")  # << BAD!!!
    assert "myapp.tasks.mytask" not in app.tasks


def test_an_explicit_name_makes_both_import_paths_one_task(importable):
    importable("proj2/__init__.py", "")
    importable(
        "proj2/tasks.py",
        """
        from django_tasks import app

        @app.task(name='proj2.tasks.add')
        def add(x, y):
            return x + y
    """,
        ".",
        "proj2",
    )
    from proj2.tasks import add as good

    bad = importlib.import_module("tasks").add
    assert bad is good
    assert bad.name == "proj2.tasks.add"


def test_an_installed_apps_module_imported_by_a_shorter_path_keeps_its_apps_name(importable):
    # tests/ on sys.path: "api.guide.logs" is the file tests.api.guide.logs of the tests app.
    importable("unused.py", "")
    tests_dir = str(__import__("pathlib").Path(__file__).resolve().parent.parent)
    sys.path.insert(0, tests_dir)
    try:
        short = importlib.import_module("api.guide.logs")
    finally:
        sys.path.remove(tests_dir)
    from tests.api.guide import logs

    assert short.add is logs.add
    assert short.add.name == "tests.api.guide.logs.add"


def test_two_closures_of_one_factory_are_two_tasks(scratch):
    def make(n):
        def job():
            return n

        return app.task(name=f"closure-{n}")(job)

    one, two = make(1), make(2)
    assert (one(), two()) == (1, 2)
    assert app.tasks["closure-1"] is not app.tasks["closure-2"]
