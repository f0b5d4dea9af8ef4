"""Calling tasks: delay/apply_async, transactions, eager runs, and bad calls caught early."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from django.db import transaction
from django.utils import timezone

from django_tasks import AsyncResult, EagerResult, app, states
from django_tasks.exceptions import EncodeError
from django_tasks.models import TaskMessage
from testproject.blog.models import Entry
from tests import tasks
from tests.api import bodies
from tests.api.guide import articles

writes = pytest.mark.django_db(transaction=True)


@writes
def test_delay_is_apply_async_with_args_and_kwargs():
    result = tasks.add.delay(2, y=3)
    assert isinstance(result, AsyncResult)
    row = TaskMessage.objects.get(id=result.id)
    assert (row.name, row.args, row.kwargs, row.state) == (
        "tests.tasks.add",
        [2],
        {"y": 3},
        states.PENDING,
    )
    assert result.state == states.PENDING


@writes
def test_apply_async_options_land_on_the_row():
    eta = timezone.now() + timedelta(minutes=5)
    result = tasks.add.apply_async(
        (1, 2), eta=eta, expires=600, queue="q", priority=3, task_id="my-id", headers={"h": 1}
    )
    row = TaskMessage.objects.get(id="my-id")
    assert result.id == "my-id"
    assert (row.eta, row.run_at, row.queue, row.priority) == (eta, eta, "q", 3)
    assert row.expires > eta
    assert row.options["headers"] == {"h": 1}
    countdown = TaskMessage.objects.get(id=tasks.add.apply_async((1, 2), countdown=30).id)
    assert timezone.now() + timedelta(seconds=25) < countdown.run_at


@writes
def test_inside_atomic_the_task_is_written_on_commit_and_a_rollback_enqueues_nothing():
    with transaction.atomic():
        kept = tasks.add.delay(1, 1)
        assert not TaskMessage.objects.filter(id=kept.id).exists()
    assert TaskMessage.objects.filter(id=kept.id).exists()
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.delay(1, 1)
        raise RuntimeError("rollback")
    assert TaskMessage.objects.count() == 1


@writes
def test_on_commit_false_writes_in_the_current_transaction():
    with transaction.atomic():
        result = tasks.add.apply_async((1, 1), on_commit=False)
        assert TaskMessage.objects.filter(id=result.id).exists()
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.apply_async((1, 1), on_commit=False)
        raise RuntimeError("rollback")
    assert TaskMessage.objects.count() == 1


@writes
def test_the_guides_database_transactions_example_sends_the_task_after_commit():
    response = articles.create_article(None)
    assert response.status_code == 302
    article = Entry.objects.get()
    assert TaskMessage.objects.get().args == [article.pk]


@writes
def test_json_arguments_of_djangos_encoder_are_stored_with_kombus_type_markers():
    when = timezone.now()
    result = bodies.context_all.delay(when, Decimal("1.5"), UUID(int=1), (1, 2))
    assert TaskMessage.objects.get(id=result.id).args == [
        {"__type__": "datetime", "__value__": when.isoformat()},
        {"__type__": "decimal", "__value__": "1.5"},
        {"__type__": "uuid", "__value__": {"hex": UUID(int=1).hex, "version": None}},
        [1, 2],
    ]


# -- bad calls: each fails at the call site, names the task and the problem, writes nothing ------

BAD_CALLS = [
    (
        "wrong argument count",
        lambda: tasks.add.delay(8),
        TypeError,
        "Task 'tests.tasks.add' called with bad arguments: missing a required argument: 'y'.",
    ),
    (
        "unexpected keyword",
        lambda: tasks.add.delay(1, 2, z=3),
        TypeError,
        "Task 'tests.tasks.add' called with bad arguments: got an unexpected keyword argument 'z'.",
    ),
    (
        "non-JSON argument",
        lambda: tasks.add.delay(object, 1),
        EncodeError,
        "Task 'tests.tasks.add' argument 'x' is not JSON serializable: <class 'object'>; pass "
        "its id or a JSON value.",
    ),
    (
        "non-JSON nested",
        lambda: tasks.add.delay(1, y={"a": [object]}),
        EncodeError,
        "Task 'tests.tasks.add' argument 'y' is not JSON serializable: {'a': [<class "
        "'object'>]} (it holds <class 'object'>); pass its id or a JSON value.",
    ),
    (
        "unknown option",
        lambda: tasks.add.apply_async((1, 2), countdwon=5),
        TypeError,
        "Task 'tests.tasks.add': apply_async() got unknown option 'countdwon' (did you mean "
        "'countdown'?).",
    ),
    (
        "negative countdown",
        lambda: tasks.add.apply_async((1, 2), countdown=-1),
        ValueError,
        "Task 'tests.tasks.add': countdown must not be negative, not -1.",
    ),
    (
        "countdown not a number",
        lambda: tasks.add.apply_async((1, 2), countdown="5"),
        TypeError,
        "Task 'tests.tasks.add': countdown must be seconds, not '5'.",
    ),
    (
        "naive eta",
        lambda: tasks.add.apply_async((1, 2), eta=datetime(2030, 1, 1)),
        ValueError,
        "Task 'tests.tasks.add': eta datetime.datetime(2030, 1, 1, 0, 0) is naive but USE_TZ is "
        "on; pass an aware datetime (django.utils.timezone.now() + timedelta(...)).",
    ),
    (
        "countdown and eta",
        lambda: tasks.add.apply_async((1, 2), countdown=1, eta=timezone.now()),
        ValueError,
        "Task 'tests.tasks.add': give countdown or eta, not both.",
    ),
    (
        "naive expires",
        lambda: tasks.add.apply_async((1, 2), expires=datetime(2030, 1, 1)),
        ValueError,
        "Task 'tests.tasks.add': expires datetime.datetime(2030, 1, 1, 0, 0) is "
        "naive but USE_TZ is on; pass an aware datetime.",
    ),
    (
        "negative expires",
        lambda: tasks.add.apply_async((1, 2), expires=-5),
        ValueError,
        "Task 'tests.tasks.add': expires must not be negative, not -5.",
    ),
    (
        "bad priority",
        lambda: tasks.add.apply_async((1, 2), priority=11),
        ValueError,
        "Task 'tests.tasks.add': priority must be an integer from 0 to 9, not 11.",
    ),
    (
        "empty queue",
        lambda: tasks.add.apply_async((1, 2), queue=""),
        ValueError,
        "Task 'tests.tasks.add': queue must be a name of 1 to 100 characters, not ''.",
    ),
    (
        "pickle serializer",
        lambda: tasks.add.apply_async((1, 2), serializer="pickle"),
        Exception,
        "Task 'tests.tasks.add': apply_async() option 'serializer' is 'pickle', but only "
        "'json' is supported: messages are JSON in the database; pass ids or JSON values "
        "(datetime, Decimal, UUID, bytes, timedelta round-trip).",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("problem", "call", "error", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
def test_a_bad_call_fails_at_the_call_site_and_writes_nothing(
    django_capture_on_commit_callbacks, problem, call, error, message
):
    with (
        django_capture_on_commit_callbacks() as writes_at_commit,
        pytest.raises(error, match=re.escape(message) + "$"),
    ):
        call()
    assert writes_at_commit == []  # no write scheduled for the commit
    assert TaskMessage.objects.count() == 0  # and none done now


@writes
def test_a_model_instance_argument_fails_naming_the_argument():
    # The guide's "State" section: pass the article's id, not the article.
    article = Entry.objects.create(title="t", slug="s", body="MyCorp")

    expected = (
        f"Task 'tests.api.guide.articles.expand_abbreviations' argument 'article_id' "
        f"is not JSON serializable: {article!r}; pass its id or a JSON value."
    )
    with pytest.raises(EncodeError, match=re.escape(expected)):
        articles.expand_abbreviations.delay(article)
    assert articles.expand_abbreviations.delay(article.pk).id
    assert TaskMessage.objects.count() == 1


# -- running here: direct calls, apply, ALWAYS_EAGER -----------------------------------------------


@pytest.mark.django_db
def test_calling_the_task_runs_it_inline():
    assert tasks.add(2, 2) == 4
    assert TaskMessage.objects.count() == 0


@pytest.mark.django_db
def test_apply_runs_here_and_returns_an_eager_result():
    result = tasks.add.apply((2, 2))
    assert isinstance(result, EagerResult)
    assert (result.state, result.get(), result.successful(), result.ready()) == (
        states.SUCCESS,
        4,
        True,
        True,
    )
    failed = tasks.fail.apply(("no",))
    assert failed.failed()
    with pytest.raises(ValueError, match="^no$"):
        failed.get()
    assert failed.get(propagate=False).args == ("no",)
    with pytest.raises(ValueError, match="^no$"):
        tasks.fail.apply(("no",), throw=True)


@pytest.mark.django_db
def test_always_eager_makes_delay_run_here(settings):
    settings.DJANGO_TASKS = {"ALWAYS_EAGER": True}
    result = tasks.add.delay(3, 4)
    assert isinstance(result, EagerResult)
    assert result.get() == 7
    assert TaskMessage.objects.count() == 0
    with pytest.raises(ValueError, match=re.escape("countdown must not be negative")):
        tasks.add.apply_async((1, 2), countdown=-1)  # still checked when eager


@pytest.mark.django_db
def test_eager_propagates_reraises_failures_of_delay(settings):
    settings.DJANGO_TASKS = {"ALWAYS_EAGER": True, "EAGER_PROPAGATES": True}
    with pytest.raises(ValueError, match="^boom$"):
        tasks.fail.delay()


@writes
def test_send_task_enqueues_by_name_without_importing_the_task():
    result = app.send_task("elsewhere.tasks.report", args=[1], kwargs={"x": 2}, countdown=60)
    row = TaskMessage.objects.get(id=result.id)
    assert (row.name, row.args, row.kwargs, row.queue) == (
        "elsewhere.tasks.report",
        [1],
        {"x": 2},
        "default",
    )
    assert row.run_at > timezone.now()


@writes
def test_enqueue_many_checks_every_call_before_writing_any():
    with pytest.raises(TypeError, match=re.escape("missing a required argument: 'y'")):
        tasks.add.enqueue_many([(1, 2), (3,)])
    assert TaskMessage.objects.count() == 0
    results = tasks.add.enqueue_many([(1, 2), ((3,), {"y": 4})])
    assert sorted(TaskMessage.objects.values_list("args", flat=True), key=str) == [[1, 2], [3]]
    assert len(results) == 2


@pytest.mark.django_db
def test_get_times_out_with_a_timeout_error():
    from django_tasks.exceptions import TimeoutError

    result = AsyncResult("never-sent")
    assert result.state == states.PENDING
    with pytest.raises(
        TimeoutError,
        match=re.escape("The operation timed out waiting for task never-sent after 0.1s."),
    ):
        result.get(timeout=0.1, interval=0.02)


@pytest.mark.django_db
def test_app_conf_reads_settings_by_celery_names(settings):
    settings.DJANGO_TASKS = {"REDIRECT_STDOUTS_LEVEL": "INFO", "ALWAYS_EAGER": True}
    assert app.conf.CELERY_REDIRECT_STDOUTS_LEVEL == "INFO"
    assert app.conf.worker_redirect_stdouts_level == "INFO"
    assert app.conf["CELERY_ALWAYS_EAGER"] is True
    assert app.conf.task_always_eager is True
    assert app.conf.CELERY_TASK_RESULT_EXPIRES == 86400
    assert app.conf.CELERYD_TASK_TIME_LIMIT is None
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "'CELERY_BROKER_URL' is a Celery setting django_tasks ignores: "
            "the database is the broker."
        ),
    ):
        app.conf.CELERY_BROKER_URL  # noqa: B018 - the attribute read is the test
    with pytest.raises(
        AttributeError,
        match=re.escape("'CELERY_NOPE' is not a DJANGO_TASKS setting (nor a Celery name for one)."),
    ):
        app.conf.CELERY_NOPE  # noqa: B018 - the attribute read is the test
