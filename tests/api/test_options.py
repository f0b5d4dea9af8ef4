"""Every task option: accepted, validated at decoration, and shown to take effect."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from django_tasks import Task, app, states
from django_tasks.models import TaskMessage
from tests import tasks
from tests.api import bodies

pytestmark = pytest.mark.django_db


#: Tests that read the rows they enqueue run outside a test transaction: there, as in a
#: view outside atomic(), a task is written at once instead of on commit.
writes = pytest.mark.django_db(transaction=True)


def row(result):
    return TaskMessage.objects.get(id=result.id)


# -- name, bind, base --------------------------------------------------------------------------


@writes
def test_name_option_registers_the_task_under_that_name(scratch):
    @app.task(name="sum-of-two-numbers")
    def add(x, y):
        return x + y

    assert add.name == "sum-of-two-numbers"
    assert app.tasks["sum-of-two-numbers"] is add
    assert row(add.delay(1, 2)).name == "sum-of-two-numbers"


def test_bind_passes_the_task_instance_as_self(scratch):
    @app.task(bind=True)
    def whoami(self):
        return self.name

    assert whoami() == whoami.name
    assert whoami.apply().get() == whoami.name


def test_base_makes_the_task_an_instance_of_the_custom_class(scratch):
    class Base(Task):
        abstract = True
        greeting = "hi"

    @app.task(base=Base)
    def greet():
        return greet.greeting

    assert isinstance(greet, Base)
    assert greet() == "hi"
    assert "tests.api.test_options.Base" not in app.tasks


def test_base_that_is_not_a_task_class_fails_at_decoration(scratch):
    expected = (
        "Task 'tests.api.test_options.f': base= must be a Task subclass, not <class 'object'>."
    )
    with pytest.raises(TypeError, match=re.escape(expected)):

        @app.task(base=object)
        def f():
            pass


# -- defaults and their settings -----------------------------------------------------------------


def test_defaults_are_celerys():
    opts = tasks.add.options
    assert (opts.max_retries, opts.default_retry_delay, opts.rate_limit) == (3, 180, None)
    assert (opts.time_limit, opts.soft_time_limit, opts.expires) == (None, None, None)
    assert not (
        opts.ignore_result
        or opts.store_errors_even_if_ignored
        or opts.send_error_emails
        or opts.acks_late
        or opts.track_started
    )
    assert (opts.queue, opts.priority, opts.throws, opts.autoretry_for) == ("default", 0, (), ())
    assert (opts.retry_backoff, opts.retry_backoff_max, opts.retry_jitter) == (False, 600, True)
    assert opts.typing is True
    assert (tasks.add.max_retries, tasks.add.queue, tasks.add.serializer) == (3, "default", "json")


SETTINGS = {
    "DEFAULT_MAX_RETRIES": 7,
    "DEFAULT_RETRY_DELAY": 5,
    "DEFAULT_RATE_LIMIT": "60/m",
    "IGNORE_RESULT": True,
    "STORE_ERRORS_EVEN_IF_IGNORED": True,
    "SEND_TASK_ERROR_EMAILS": True,
    "ACKS_LATE": True,
    "TRACK_STARTED": True,
    "DEFAULT_QUEUE": "bulk",
    "DEFAULT_PRIORITY": 4,
    "TYPING": False,
}


@writes
def test_every_settings_backed_option_falls_back_to_its_django_tasks_key():
    with override_settings(DJANGO_TASKS=SETTINGS):
        opts = tasks.add.options
        assert opts.max_retries == 7
        assert opts.default_retry_delay == 5
        assert opts.rate_limit == 1.0
        assert opts.ignore_result and opts.store_errors_even_if_ignored
        assert opts.send_error_emails and opts.acks_late and opts.track_started
        assert (opts.queue, opts.priority, opts.typing) == ("bulk", 4, False)
        assert (tasks.add.max_retries, tasks.add.acks_late, tasks.add.queue) == (7, True, "bulk")
        message = row(tasks.add.delay(1, 2))
        assert (message.queue, message.priority, message.acks_late) == ("bulk", 4, True)
    assert tasks.add.options.queue == "default"  # the cache is dropped when settings change


def test_a_keyword_or_class_attribute_beats_the_setting(scratch):
    class Urgent(Task):
        abstract = True
        queue = "urgent"

    @app.task(base=Urgent, max_retries=None, acks_late=False)
    def job():
        pass

    with override_settings(DJANGO_TASKS=SETTINGS):
        assert (job.options.queue, job.options.max_retries, job.options.acks_late) == (
            "urgent",
            None,
            False,
        )
        assert job.options.priority == 4  # not set anywhere: the setting


def test_disable_rate_limits_turns_every_rate_limit_off(scratch):
    @app.task(rate_limit="10/s")
    def limited():
        pass

    assert limited.options.rate_limit == 10.0
    with override_settings(DJANGO_TASKS={"DISABLE_RATE_LIMITS": True}):
        assert limited.options.rate_limit is None


# -- validation at decoration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "per_second"),
    [
        ("10/s", 10.0),
        ("100/m", 100 / 60),
        ("1000/h", 1000 / 3600),
        (5, 5.0),
        (0.5, 0.5),
        ("10/sec", 10.0),
        ("2/minute", 2 / 60),
        ("7", 7.0),
        (None, None),
        (0, None),
    ],
)
def test_rate_limit_is_parsed_into_tasks_per_second(scratch, rate, per_second):
    @app.task(rate_limit=rate)
    def limited():
        pass

    assert (
        limited.options.rate_limit == pytest.approx(per_second)
        if per_second
        else (limited.options.rate_limit is None)
    )


BAD_OPTIONS = [
    (
        {"rate_limit": "ten/s"},
        "option 'rate_limit' must be a rate like '10/s', '100/m', "
        "'1000/h' or a number of tasks per second, not 'ten/s'.",
    ),
    (
        {"rate_limit": "10/d"},
        "option 'rate_limit' must be a rate like '10/s', '100/m', "
        "'1000/h' or a number of tasks per second, not '10/d'.",
    ),
    (
        {"rate_limit": -1},
        "option 'rate_limit' must be a rate like '10/s', '100/m', "
        "'1000/h' or a number of tasks per second, not -1.",
    ),
    ({"time_limit": 0}, "option 'time_limit' must be seconds > 0, not 0."),
    ({"time_limit": "30"}, "option 'time_limit' must be seconds > 0, not '30'."),
    ({"soft_time_limit": -5}, "option 'soft_time_limit' must be seconds > 0, not -5."),
    (
        {"time_limit": 10, "soft_time_limit": 20},
        "option 'soft_time_limit' (20) must not exceed time_limit (10).",
    ),
    (
        {"max_retries": -1},
        "option 'max_retries' must be an integer >= 0 or None (retry forever), not -1.",
    ),
    (
        {"max_retries": "3"},
        "option 'max_retries' must be an integer >= 0 or None (retry forever), not '3'.",
    ),
    ({"default_retry_delay": -1}, "option 'default_retry_delay' must be seconds >= 0, not -1."),
    ({"priority": 10}, "option 'priority' must be an integer from 0 to 9, not 10."),
    ({"queue": ""}, "option 'queue' must be a queue name of 1 to 100 characters, not ''."),
    (
        {"throws": KeyError},
        "option 'throws' must be a tuple of exception classes, not <class 'KeyError'>.",
    ),
    (
        {"autoretry_for": ("ConnectionError",)},
        "option 'autoretry_for' must be a tuple of exception classes, not ('ConnectionError',).",
    ),
    (
        {"expires": "soon"},
        "option 'expires' must be seconds >= 0, an aware datetime or None, not 'soon'.",
    ),
    (
        {"retry_kwargs": {"countdwn": 1}},
        "option 'retry_kwargs' must be a dict with keys "
        "among countdown, eta, max_retries, priority, queue, not {'countdwn': 1}.",
    ),
    (
        {"retry_backoff": "yes"},
        "option 'retry_backoff' must be True, False or a factor in seconds, not 'yes'.",
    ),
    ({"retry_backoff_max": 0}, "option 'retry_backoff_max' must be seconds > 0, not 0."),
    ({"acks_late": "yes"}, "option 'acks_late' must be True or False, not 'yes'."),
    ({"typing": 1}, "option 'typing' must be True or False, not 1."),
]


@pytest.mark.parametrize(("options", "problem"), BAD_OPTIONS)
def test_a_bad_option_value_fails_at_decoration_naming_task_and_option(scratch, options, problem):
    expected = "Task 'tests.api.test_options.job'" + (
        problem if problem.startswith(":") else " " + problem
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):

        @app.task(**options)
        def job():
            pass

    assert "tests.api.test_options.job" not in app.tasks


def test_soft_time_limit_equal_to_time_limit_is_allowed_as_in_celery(scratch):
    @app.task(time_limit=10, soft_time_limit=10)
    def job():
        pass

    assert (job.options.soft_time_limit, job.options.time_limit) == (10, 10)


def test_serializer_other_than_json_is_improperly_configured(scratch):
    @app.task(serializer="json")
    def fine():
        pass

    expected = (
        "Task 'tests.api.test_options.pickled' option 'serializer' is 'pickle', but only "
        "'json' is supported: messages are JSON in the database; pass ids or JSON values "
        "(datetime, Decimal, UUID, bytes, timedelta round-trip)."
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):

        @app.task(serializer="pickle")
        def pickled():
            pass


def test_a_misspelt_option_fails_at_decoration_with_a_suggestion(scratch):
    expected = (
        "Task 'tests.api.test_options.job': unknown option 'max_retrys' (did you "
        "mean 'max_retries'?)."
    )
    with pytest.raises(TypeError, match=re.escape(expected)):

        @app.task(max_retrys=5)
        def job():
            pass


# -- each option's effect ------------------------------------------------------------------------


@writes
def test_time_limits_travel_with_the_message_and_reach_the_request(scratch):
    @app.task(bind=True, time_limit=30, soft_time_limit=25)
    def limited(self):
        return list(self.request.timelimit)

    message = row(limited.delay())
    assert (message.options["time_limit"], message.options["soft_time_limit"]) == (30, 25)
    assert limited.apply().get() == [30, 25]
    assert row(limited.apply_async(time_limit=5)).options["time_limit"] == 5


def test_ignore_result_stores_no_return_value_unless_the_call_asks():
    assert bodies.ignored_result.apply().get() is None
    assert bodies.ignored_result.apply(ignore_result=False).get() == 42
    assert tasks.add.apply((1, 2), ignore_result=True).get() is None


def test_store_errors_even_if_ignored_keeps_the_error_of_an_ignored_result():
    kept = bodies.ignored_result_errors_kept.apply()
    dropped = bodies.ignored_result_errors_dropped.apply()
    assert kept.state == dropped.state == states.FAILURE
    assert isinstance(kept.result, ValueError)
    assert "ValueError: kept" in kept.traceback
    assert dropped.traceback is None


def test_send_error_emails_mails_the_admins(mailoutbox, site_admins):
    result = bodies.mailing.apply(("x",), {"y": 2})
    assert len(mailoutbox) == 1
    assert result.id in mailoutbox[0].subject


@writes
def test_acks_late_is_recorded_on_the_row():
    assert row(bodies.late.delay()).acks_late is True
    assert row(tasks.add.delay(1, 1)).acks_late is False
    assert row(tasks.add.apply_async((1, 1), acks_late=True)).acks_late is True


@writes
def test_track_started_travels_with_the_message():
    assert row(bodies.tracked.delay(0)).options["track_started"] is True
    assert row(tasks.add.delay(1, 1)).options["track_started"] is False


def test_throws_are_expected_errors_logged_at_info_without_traceback(caplog, mailoutbox):
    result = bodies.expected_error.apply()
    assert result.state == states.FAILURE
    line = f"task id={result.id} name=tests.api.bodies.expected_error state=FAILURE"
    records = [r for r in caplog.records if line in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in records] == [("INFO", None)]
    assert mailoutbox == []  # expected errors mail nobody


@writes
def test_queue_and_priority_options_place_the_row():
    assert (row(bodies.on_other_queue.delay()).queue, row(bodies.urgent.delay("k")).priority) == (
        "other",
        9,
    )
    message = row(bodies.urgent.apply_async(("k",), queue="q2", priority=1))
    assert (message.queue, message.priority) == ("q2", 1)


@writes
def test_expires_option_sets_the_rows_expiry():
    before = timezone.now()
    message = row(bodies.short_lived.delay())
    assert before < message.expires <= timezone.now() + timedelta(seconds=0.01)
    when = timezone.now() + timedelta(hours=1)
    assert row(tasks.add.apply_async((1, 1), expires=when)).expires == when
    assert row(tasks.add.apply_async((1, 1), expires=60)).expires > before + timedelta(seconds=59)


@writes
def test_typing_checks_call_signatures_at_enqueue_unless_disabled():
    expected = "Task 'tests.tasks.add' called with bad arguments: missing a required argument: 'y'."
    with pytest.raises(TypeError, match=re.escape(expected)):
        tasks.add.delay(8)
    assert TaskMessage.objects.count() == 0
    result = bodies.untyped.delay(8)  # "Works locally, but the worker ... will raise"
    assert row(result).args == [8]


def test_autoretry_for_retries_listed_exceptions_with_retry_kwargs():
    result = bodies.auto_until.apply((2, "auto-a"))
    assert (result.state, result.get(), result.retries) == (states.SUCCESS, 2, 2)
    result = bodies.auto_until.apply((5, "auto-b"))  # retry_kwargs max_retries=2
    assert (result.state, result.retries) == (states.FAILURE, 2)
    assert isinstance(result.result, ConnectionError)


def test_shared_task_is_app_task(scratch):
    from django_tasks import shared_task

    @shared_task
    def add(x, y):
        return x + y

    assert app.tasks[add.name] is add
    assert mail.outbox == []
