"""
A Celery project's celery.py, CELERY_* settings and routes, with only the imports changed.

The project is tests/celeryproj (celery.py, tasks.py, jobs.py, routers.py, settings.py),
written as Celery's "First steps with Django" and real projects write theirs.
"""

from __future__ import annotations

import importlib
import re
import sys
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_tasks import (
    AsyncResult,
    Celery,
    EagerResult,
    Task,
    app,
    bootsteps,
    conf,
    current_app,
    states,
)
from django_tasks.checks import check_settings
from django_tasks.sending import build_message


@pytest.fixture
def proj():
    """
    The project's celery module, loaded as Django loads it, and its configuration undone after.

    A real process imports celery.py before Django's apps are ready, and ``AppConfig.ready``
    finalizes the app; here the apps are ready already, so the fixture finalizes it.
    """
    saved = conf.state()
    module = sys.modules.get("tests.celeryproj.celery")
    if module is None:
        module = importlib.import_module("tests.celeryproj.celery")
    else:
        module = importlib.reload(module)
    app.finalize()
    yield module
    app.on_after_configure.disconnect(module.setup_periodic_tasks)
    app.on_after_finalize.disconnect(module.finalized)
    conf.restore(saved)


def messages(level=""):
    return [(m.id, m.msg) for m in check_settings() if m.id.split(".")[1].startswith(level)]


# -- the app module -------------------------------------------------------------------------


def test_celery_returns_the_process_wide_app(proj):
    assert proj.app is app
    assert Celery("other") is app
    assert current_app is app
    assert proj.app.tasks is app.tasks
    assert proj.app.conf is app.conf
    assert proj.app.Task is Task
    assert isinstance(proj.app.AsyncResult("x"), AsyncResult)


def test_celery_with_an_unknown_argument_names_it_and_the_closest():
    with pytest.raises(TypeError, match=re.escape("Celery() got unknown argument 'brokr' (did")):
        Celery("proj", brokr="redis://")


def test_celery_broker_and_backend_are_accepted_and_listed_by_check(proj):
    Celery("proj", broker="redis://localhost", backend="redis://localhost")
    assert (
        "django_tasks.I002",
        "Celery(broker='redis://localhost') is ignored: the database is the broker.",
    ) in messages("I")
    assert (
        "django_tasks.I002",
        "Celery(backend='redis://localhost') is ignored: results are rows of the task table.",
    ) in messages("I")


def test_project_tasks_register_under_celerys_names(proj):
    for name in (
        "tests.celeryproj.tasks.add",
        "mail.send_welcome",
        "tests.celeryproj.tasks.refresh",
        "tests.celeryproj.jobs.nightly",  # autodiscover_tasks(lambda: [...], related_name=)
        "tests.celeryproj.celery.debug_task",
        "proj.cleanup",  # app.register_task(CleanupTask())
    ):
        assert name in app.tasks, name
    from tests.celeryproj import tasks

    assert app.register_task(tasks.CleanupTask) is tasks.cleanup


def test_on_after_configure_and_finalize_receivers_get_the_app(proj):
    assert callable(proj.setup_periodic_tasks)  # the decorator returned the function
    assert ("configured", app, app.conf) in proj.seen
    assert ("finalized", app, None) in proj.seen


def test_autodiscover_tasks_force_imports_now_and_skips_missing_modules(proj):
    sys.modules.pop("tests.celeryproj.routers", None)
    app.autodiscover_tasks(["tests.celeryproj", "tests.api"], related_name="routers", force=True)
    assert "tests.celeryproj.routers" in sys.modules


def test_conf_assignment_and_update_take_effect(proj):
    from tests.celeryproj import tasks

    app.conf.task_default_queue = "assigned"
    assert conf.get("DEFAULT_QUEUE") == "assigned"
    assert build_message(tasks.add, (1, 2)).queue == "assigned"
    app.conf.update(task_default_priority=4)
    assert build_message(tasks.add, (1, 2)).priority == 4
    app.conf["CELERY_TASK_ALWAYS_EAGER"] = True
    result = tasks.add.delay(2, 2)
    assert isinstance(result, EagerResult)
    assert result.get() == 4


def test_conf_assignment_of_an_unknown_name_raises_naming_it(proj):
    with pytest.raises(
        ImproperlyConfigured,
        match=re.escape(
            "app.conf['task_alwys_eager'] is not a setting: it cannot take effect. "
            "Did you mean 'task_always_eager'?"
        ),
    ):
        app.conf.task_alwys_eager = True


def test_conf_assignment_of_a_bad_value_raises_naming_it(proj):
    with pytest.raises(
        ImproperlyConfigured,
        match=re.escape(
            "app.conf['task_default_priority'] must be an integer from 0 to 9, not 12."
        ),
    ):
        app.conf.task_default_priority = 12


def test_bootsteps_import_and_using_them_says_what_to_use_instead():
    with pytest.raises(NotImplementedError, match="bootsteps are not supported: the runtasks"):

        class DeadlockDetection(bootsteps.StartStopStep):
            pass

    with pytest.raises(NotImplementedError, match=re.escape("app.steps['worker'].add(")):
        app.steps["worker"].add(object)


@pytest.mark.django_db
def test_control_revoke_revokes_and_other_control_commands_raise(proj):
    from tests.celeryproj import tasks

    result = tasks.add.apply_async((1, 1), on_commit=False)
    app.control.revoke(result.id)
    assert AsyncResult(result.id).state == states.REVOKED
    with pytest.raises(
        NotImplementedError,
        match=re.escape("app.control.inspect is not supported: the admin lists tasks"),
    ):
        app.control.inspect()


# -- Celery's settings namespace ------------------------------------------------------------


def test_celery_task_always_eager_returns_an_eager_result(proj, settings):
    from tests.celeryproj import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert conf.get("ALWAYS_EAGER") is True
    result = tasks.add.delay(2, 3)
    assert isinstance(result, EagerResult)
    assert result.get() == 5


def test_celery_31_names_are_read_in_the_namespace(proj, settings):
    settings.CELERY_ALWAYS_EAGER = True
    settings.CELERYD_TASK_TIME_LIMIT = 30
    settings.CELERYD_TASK_SOFT_TIME_LIMIT = 20
    settings.CELERY_ACKS_LATE = True
    settings.CELERY_DEFAULT_QUEUE = "old"
    settings.CELERY_TASK_RESULT_EXPIRES = 600
    settings.CELERY_IMPORTS = ("tests.celeryproj.jobs",)
    settings.CELERY_TIMEZONE = "Europe/Paris"
    assert [conf.get(k) for k in ("ALWAYS_EAGER", "TIME_LIMIT", "SOFT_TIME_LIMIT")] == [
        True,
        30,
        20,
    ]
    assert conf.get("ACKS_LATE") is True
    assert conf.get("DEFAULT_QUEUE") == "old"
    assert conf.get("RESULT_EXPIRES") == 600
    assert conf.get("IMPORTS") == ["tests.celeryproj.jobs"]
    assert conf.get("TIMEZONE") == "Europe/Paris"


def test_celery_new_names_are_read_in_the_namespace(proj, settings):
    from datetime import timedelta

    settings.CELERY_TASK_DEFAULT_QUEUE = "new"
    settings.CELERY_TASK_TIME_LIMIT = 45
    settings.CELERY_RESULT_EXPIRES = timedelta(hours=1)
    settings.CELERY_ENABLE_UTC = True
    assert conf.get("DEFAULT_QUEUE") == "new"
    assert conf.get("TIME_LIMIT") == 45
    assert conf.get("RESULT_EXPIRES") == 3600
    assert conf.get("TIMEZONE") == "UTC"
    assert app.conf.task_default_queue == "new"


def test_django_tasks_wins_over_celery_and_the_conflict_is_a_warning(proj, settings):
    settings.DJANGO_TASKS = {**settings.DJANGO_TASKS, "DEFAULT_QUEUE": "ours"}
    settings.CELERY_TASK_DEFAULT_QUEUE = "theirs"
    assert conf.get("DEFAULT_QUEUE") == "ours"
    assert (
        "django_tasks.W002",
        "DJANGO_TASKS['DEFAULT_QUEUE'] ('ours') and CELERY_TASK_DEFAULT_QUEUE ('theirs') "
        "differ; DJANGO_TASKS wins: remove one of them.",
    ) in messages("W")


def test_settings_without_meaning_here_are_listed_by_check(proj, settings):
    settings.CELERY_BROKER_URL = "redis://localhost:6379/0"
    settings.CELERY_RESULT_BACKEND = "django-db"
    settings.CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    settings.CELERY_BEAT_SCHEDULE = {}
    found = messages()
    assert ("django_tasks.I001", "CELERY_BROKER_URL is ignored: the database is the broker.") in (
        found
    )
    assert (
        "django_tasks.I001",
        "CELERY_RESULT_BACKEND is ignored: results are rows of the task table.",
    ) in found
    assert (
        "django_tasks.I001",
        "CELERY_WORKER_PREFETCH_MULTIPLIER is ignored: a worker claims as many tasks as it has "
        "free slots.",
    ) in found
    # Periodic tasks are applied now: CELERY_BEAT_SCHEDULE sets BEAT_SCHEDULE, with no note.
    assert not [m for m in found if m[1].startswith("CELERY_BEAT_SCHEDULE")]
    assert conf.get("BEAT_SCHEDULE") == {}
    assert not messages("E")
    assert conf.get("DEFAULT_QUEUE") == "default"  # no crash at first use
    assert app.conf.broker_url == "redis://localhost:6379/0"


def test_pickle_serializer_is_improperly_configured_naming_the_setting(proj, settings):
    settings.CELERY_TASK_SERIALIZER = "pickle"
    expected = (
        "CELERY_TASK_SERIALIZER is 'pickle': django_tasks sends JSON only; set it to 'json' or "
        "remove it (pass model ids, not objects)."
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
        conf.get("ALWAYS_EAGER")
    assert ("django_tasks.E008", expected) in messages("E")


def test_an_unknown_celery_setting_is_an_error_with_the_closest_name(proj, settings):
    settings.CELERY_TASK_ALWAYS_EAGR = True
    assert (
        "django_tasks.E007",
        "CELERY_TASK_ALWAYS_EAGR is not a Celery setting django_tasks knows. "
        "Did you mean 'CELERY_TASK_ALWAYS_EAGER'?",
    ) in messages("E")


def test_a_bad_celery_value_names_the_celery_setting(proj, settings):
    settings.CELERY_TASK_DEFAULT_PRIORITY = "high"
    assert (
        "django_tasks.E006",
        "CELERY_TASK_DEFAULT_PRIORITY must be an integer from 0 to 9, not 'high'.",
    ) in messages("E")


def test_celery_settings_nothing_reads_are_a_warning(settings):
    saved = conf.state()
    conf.restore((None, {}, {}))
    try:
        settings.CELERY_TASK_ALWAYS_EAGER = True
        assert conf.get("ALWAYS_EAGER") is False
        assert any(
            m == ("django_tasks.W003", m[1]) and m[1].startswith("CELERY_TASK_ALWAYS_EAGER is set")
            for m in messages("W")
        )
    finally:
        conf.restore(saved)


def test_the_old_form_without_namespace_reads_31_names(proj, settings):
    app.config_from_object("django.conf:settings")
    settings.CELERY_ALWAYS_EAGER = True
    settings.CELERY_ROUTES = {"mail.*": "oldmail"}
    assert conf.get("ALWAYS_EAGER") is True
    assert build_message("mail.anything", ()).queue == "oldmail"


def test_config_from_a_module_path_and_from_an_object(proj):
    app.config_from_object("tests.celeryproj.celeryconfig")
    assert conf.get("DEFAULT_QUEUE") == "fromconfig"
    assert conf.get("TIME_LIMIT") == 60
    assert build_message("tests.celeryproj.jobs.nightly", ()).queue == "batch"
    assert build_message("tests.celeryproj.tasks.refresh", ("k",)).queue == "cache"

    class Config:
        task_default_queue = "fromclass"

    app.config_from_object(Config)
    assert conf.get("DEFAULT_QUEUE") == "fromclass"


# -- routing --------------------------------------------------------------------------------


def test_routes_by_name_glob_and_regex(proj, settings):
    settings.CELERY_TASK_ROUTES = {
        "tests.celeryproj.tasks.add": {"queue": "math"},
        "mail.*": {"queue": "mail", "routing_key": "mail.send", "exchange": "mail"},
        re.compile(r"tests\.celeryproj\.jobs\..*"): "batch",
    }
    assert build_message("tests.celeryproj.tasks.add", (1, 2)).queue == "math"
    assert build_message("mail.send_welcome", (1,)).queue == "mail"
    assert build_message("tests.celeryproj.jobs.nightly", ()).queue == "batch"
    assert build_message("tests.celeryproj.tasks.refresh", ("k",)).queue == "default"
    assert build_message("mail.not_registered_here", ()).queue == "mail"  # send_task's names


def test_a_list_of_routers_is_asked_in_order(proj, settings):
    from tests.celeryproj import routers

    settings.CELERY_TASK_ROUTES = [
        routers.route_by_priority,
        "tests.celeryproj.routers.route_to_name",
        {"tests.celeryproj.*": "proj"},
    ]
    urgent = build_message("mail.sent_by_name", (), {"urgent": True})
    assert (urgent.queue, urgent.priority) == ("urgent", 9)
    assert build_message("tests.celeryproj.jobs.nightly", ()).queue == "batch"
    assert build_message("tests.celeryproj.tasks.add", (1, 2)).queue == "proj"


def test_precedence_call_then_task_option_then_route_then_default(proj, settings):
    from tests.celeryproj import tasks

    settings.CELERY_TASK_ROUTES = {"tests.celeryproj.tasks.*": {"queue": "routed", "priority": 3}}
    assert build_message(tasks.add, (1, 2), queue="called").queue == "called"
    assert build_message(tasks.build_report, ("mon",)).queue == "reports"  # @app.task(queue=)
    routed = build_message(tasks.add, (1, 2))
    assert (routed.queue, routed.priority) == ("routed", 3)
    assert build_message(tasks.add, (1, 2), priority=7).priority == 7
    settings.CELERY_TASK_ROUTES = None
    assert build_message(tasks.add, (1, 2)).queue == "default"


def test_a_router_returning_a_bad_route_errors_at_enqueue_naming_task_and_router(proj, settings):
    from tests.celeryproj import tasks

    settings.CELERY_TASK_ROUTES = ("tests.celeryproj.routers.route_badly",)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Task 'tests.celeryproj.tasks.add': router route_badly returned 42; a route is a "
            "queue name, a dict with 'queue' or None."
        ),
    ):
        tasks.add.delay(1, 2)


def test_a_route_with_an_unknown_key_or_bad_queue_errors(proj, settings):
    settings.CELERY_TASK_ROUTES = {"mail.*": {"queue": "mail", "qeue": "x"}}
    with pytest.raises(ValueError, match=re.escape("returned unknown route key 'qeue'")):
        build_message("mail.send_welcome", (1,))
    settings.CELERY_TASK_ROUTES = {"mail.*": {"queue": ""}}
    with pytest.raises(ValueError, match=re.escape("router CELERY_TASK_ROUTES returned")):
        build_message("mail.send_welcome", (1,))


def test_a_router_path_that_does_not_import_is_a_check_error(proj, settings):
    settings.CELERY_TASK_ROUTES = ["tests.celeryproj.routers.nope"]
    assert any(
        m[0] == "django_tasks.E009"
        and m[1].startswith("CELERY_TASK_ROUTES router 'tests.celeryproj.routers.nope' cannot")
        for m in messages("E")
    )


def test_django_tasks_routes_and_default_queue(settings):
    settings.DJANGO_TASKS = {
        **settings.DJANGO_TASKS,
        "ROUTES": {"mail.*": "mail"},
        "DEFAULT_QUEUE": "web",
    }
    assert build_message("mail.x", ()).queue == "mail"
    assert build_message("other.x", ()).queue == "web"


def test_task_queues_give_names(proj, settings):
    from django_tasks import routing

    settings.CELERY_TASK_QUEUES = (SimpleNamespace(name="mail"), {"name": "default"}, "reports")
    assert conf.queue_names() == ["mail", "default", "reports"]
    assert routing.queue_names() == ["mail", "default", "reports"]
    settings.CELERY_TASK_QUEUES = [object()]
    assert any(m[1].startswith("CELERY_TASK_QUEUES must be None, or") for m in messages("E"))


@pytest.mark.django_db(transaction=True)
def test_a_routed_task_is_claimed_only_by_a_worker_of_its_queue(proj, settings, runtasks):
    from tests.celeryproj import tasks

    settings.CELERY_TASK_ROUTES = {"mail.*": {"queue": "mail"}}
    welcome = tasks.send_welcome.delay(7)
    other = tasks.add.delay(1, 2)
    worker = runtasks("--settings", "tests.celeryproj.settings", "-Q", "mail", "--burst", "-c", "1")
    assert worker.wait(timeout=60) == 0, worker.output()
    assert welcome.state == states.SUCCESS, worker.output()
    assert welcome.get(timeout=1) == "welcome 7"
    assert other.state == states.PENDING
    from django_tasks.models import TaskMessage

    assert TaskMessage.objects.get(id=other.id).queue == "default"


@pytest.mark.django_db(transaction=True)
def test_a_projects_chords_run_on_a_worker(proj, runtasks):
    from tests.celeryproj import tasks

    texts = ["a b c", "d e", "f"]
    chorded, piped = tasks.count_all(texts), tasks.count_all_piped(texts)
    worker = runtasks("--settings", "tests.celeryproj.settings", "--burst", "-c", "2")
    assert worker.wait(timeout=60) == 0, worker.output()
    assert chorded.get(timeout=1) == {"words": 6}
    assert piped.get(timeout=1) == {"total": 6}
    assert chorded.parent.get(timeout=1) == [3, 2, 1]


def test_config_from_a_module_that_does_not_import_is_an_error(proj):
    app.config_from_object("tests.celeryproj.nope")
    errors = messages("E")
    assert errors[0][0] == "django_tasks.E010"
    assert errors[0][1].startswith("app.config_from_object('tests.celeryproj.nope') cannot import")
    with pytest.raises(ImproperlyConfigured, match=re.escape("cannot import it")):
        conf.get("DEFAULT_QUEUE")
    app.config_from_object("tests.celeryproj.nope", silent=True)
    assert conf.get("DEFAULT_QUEUE") == "default"


# Earlier tests may leave threads in this process; the child only exits, so fork is safe.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_on_after_fork_is_sent_in_each_forked_child():
    import os

    read_end, write_end = os.pipe()

    @app.on_after_fork.connect
    def forked(sender, **kwargs):
        os.write(write_end, b"app" if sender is app else b"other")

    try:
        pid = os.fork()
        if pid == 0:  # the child: the receiver already ran
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read_end, 16) == b"app"
    finally:
        app.on_after_fork.disconnect(forked)
        os.close(read_end)
        os.close(write_end)
