"""
Every code example of Celery's "Tasks" guide, run by a real ``runtasks`` worker.

The examples live in ``tests/api/guide`` with only their imports changed; each test here
enqueues one section's examples, runs one burst worker, and checks what the guide says.
"""

import pytest
from django.contrib.auth.models import User

from django_tasks import app, states
from django_tasks.exceptions import ImproperlyUsed
from django_tasks.models import TaskMessage
from testproject.blog.models import Entry
from tests.api.guide import (
    articles,
    basics,
    bound,
    classes,
    classes_behind,
    context,
    errors_bad,
    errors_kwargs,
    errors_ok,
    errors_required,
    exceptions_ok,
    inheritance,
    logs,
    logs_redirect,
    retrying,
    retrying_delay,
    semipredicates,
    states_progress,
    tips,
    tips_bad,
    tips_good,
)
from tests.api.guide.stubs import Twitter, note, noted
from tests.api.helpers import retry_delay, stop

pytestmark = pytest.mark.django_db(transaction=True)


def test_basics_names_context_and_logging_examples(burst):
    user = basics.create_user.delay("george", "password")
    decorated = basics.add.delay(2, 3)
    bound_add = bound.add.delay(1, 2)
    inherited = inheritance.add.delay(1, 2)
    dumped = context.dump_context.delay(1, 2)
    logged = logs.add.delay(3, 4)
    redirected = logs_redirect.add.delay(5, 6)
    out = burst().output()

    assert user.state == states.SUCCESS
    assert User.objects.get(username="george").password == "password"
    assert decorated.get() == 51  # (2 + 3) * 10 + 1: both decorators, the task outermost
    assert f"tests.api.guide.bound.add[{bound_add.id}]: {bound_add.id}" in out
    assert inherited.state == states.FAILURE
    assert isinstance(inherited.result, KeyError)
    assert f"'{inherited.id}' failed: KeyError()" in out  # MyTask.on_failure's print
    assert f"Executing task id {dumped.id}, args: (1, 2) kwargs: {{}}" in out
    assert logged.get() == 7
    assert f"tests.api.guide.logs.add[{logged.id}]: Adding 3 + 4" in out
    assert redirected.get() == 11
    assert "WARNING/" in out and f"logs_redirect.add[{redirected.id}]: Adding 5 + 6" in out


def test_retrying_custom_states_and_exception_examples(burst):
    tweeted = retrying.send_twitter_status.delay("token", "hello")
    login = retrying.send_twitter_status.delay("bad-login", "hello again")
    delayed = retrying_delay.add.delay(1, 2)
    uploaded = states_progress.upload_files.delay(["a.txt", "b.txt"])
    errors = {kind: exceptions_ok.raise_http.delay(kind, 404) for kind in ("ok", "bad", "required")}
    errors["kwargs"] = exceptions_ok.raise_http.delay("kwargs", 404, {"h": "v"}, "body")
    burst()

    assert tweeted.state == states.SUCCESS and noted("tweet:") == ["tweet:hello"]
    # Retried with the default delay (3 minutes) and waiting: RETRY shows the exception.
    assert (login.state, login.retries) == (states.RETRY, 1)
    assert isinstance(login.result, Twitter.LoginError)
    assert "Twitter.LoginError: bad credentials" in login.traceback
    assert 179 < retry_delay(login.id) <= 180
    assert 59 < retry_delay(delayed.id) <= 60  # countdown=60 overrides the 30 minutes
    assert (delayed.state, type(delayed.result)) == (states.RETRY, ConnectionError)
    assert (uploaded.state, uploaded.result) == (states.SUCCESS, None)
    classes_ = {
        "ok": errors_ok.HttpError,
        "bad": errors_bad.HttpError,
        "required": errors_required.HttpError,
        "kwargs": errors_kwargs.HttpError,
    }
    for kind, result in errors.items():
        with pytest.raises(classes_[kind]) as raised:
            result.get()
        assert raised.value.args[0] == 404
    assert errors["kwargs"].result.headers == {"h": "v"}


def test_semipredicate_examples(worker, wait_for):
    revoked = semipredicates.some_task.delay()
    note(f"tasks.revoked:{revoked.id}")
    kept = semipredicates.some_task.delay()
    tweets = semipredicates.get_tweets.delay("ann")
    huge = semipredicates.render_scene.delay("huge")
    nomem = semipredicates.render_scene.delay("nomem")
    flaky = semipredicates.render_scene.delay("flaky")
    rendered = semipredicates.render_scene.delay("scene")
    requeued = semipredicates.requeues.delay()
    running = worker("-c", "1")
    # A worker that is not --burst: the flaky render's retry is 10 s away.
    wait_for(
        lambda: (
            flaky.state == states.RETRY
            and requeued.state == states.SUCCESS
            and all(
                TaskMessage.objects.filter(id=r.id, state__in=states.FINISHED_STATES).exists()
                for r in (revoked, kept, tweets, huge, nomem, rendered)
            )
        ),
        timeout=30,
    )
    out = stop(running)

    assert revoked.state == states.PENDING  # Ignore: no state recorded, as in Celery
    assert kept.state == states.SUCCESS
    # get_tweets stored its own result with update_state, then raised Ignore: kept as is.
    assert (tweets.state, tweets.get()) == (states.SUCCESS, ["ann: first", "ann: second"])
    assert (huge.state, huge.result) == (states.REJECTED, "MemoryError")
    assert (nomem.state, nomem.result) == (
        states.REJECTED,
        "OSError: [Errno 12] Cannot allocate memory",
    )
    assert (flaky.state, str(flaky.result)) == (states.RETRY, "render farm busy")
    assert rendered.state == states.SUCCESS
    # Rejected with requeue (acks_late): delivered again, redelivered, and it says so.
    assert requeued.state == states.SUCCESS
    assert TaskMessage.objects.get(id=requeued.id).redelivered is True
    assert out.count("received two times") == 1


def test_custom_class_tips_and_state_examples(burst):
    server = app.tasks["tests.api.guide.classes.NaiveAuthenticateServer"]
    good, bad = server.delay("george", "password"), server.delay("george", "secret")
    rows = classes.process_rows.delay()
    debug = classes.add.delay(1, 2)
    behind = classes_behind.add.delay(2, 3)
    ignored = tips.mytask.delay()
    tips_good.update_page_info("http://good/")
    blocking = tips_bad.update_page_info.delay("http://bad/")
    article = Entry.objects.create(title="t", slug="s", body="MyCorp news")
    expanded = articles.expand_abbreviations.delay(article.pk)
    out = burst().output()

    assert (good.get(), bad.get()) == (True, False)
    assert rows.state == states.SUCCESS
    assert debug.get() == 3 and f"Task returned: Request(id='{debug.id}'" in out
    assert behind.get() == 5
    # ignore_result: no state is stored, as the guide says; the row is gone once it ran.
    assert (ignored.state, ignored.result) == (states.PENDING, None)
    assert not TaskMessage.objects.filter(id=ignored.id).exists()
    assert noted("something") == ["something"]
    assert noted("page:") == ["page:http://good/:25"]  # the chain ran to its end
    assert blocking.state == states.FAILURE  # the Bad example: get() inside a task
    with pytest.raises(ImproperlyUsed):
        blocking.get()
    assert expanded.state == states.SUCCESS
