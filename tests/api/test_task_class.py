"""The task class as Celery projects use it: names, attributes, handlers, base classes."""

import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_tasks import Task, app, states
from django_tasks.task import current_task

pytestmark = pytest.mark.django_db


def test_a_task_carries_its_functions_name_doc_and_module(scratch):
    @app.task
    def send_welcome(user_id):
        """Mail the welcome letter."""

    assert send_welcome.__name__ == "send_welcome"
    assert send_welcome.__doc__ == "Mail the welcome letter."
    assert send_welcome.__module__ == __name__
    assert send_welcome.__wrapped__.__name__ == "send_welcome"


def test_any_other_decorator_keyword_becomes_a_task_attribute(scratch):
    @app.task(bind=True, sentry_tag="billing", lock_timeout=60)
    def charge(self):
        return (self.sentry_tag, self.lock_timeout)

    assert (charge.sentry_tag, charge.lock_timeout) == ("billing", 60)
    assert charge.apply().get() == ["billing", 60]


@pytest.mark.parametrize("typo", ["acks_lat", "max_retrys", "time_limt", "ignore_results"])
def test_a_keyword_a_small_edit_from_an_option_is_a_typo_not_an_attribute(scratch, typo):
    with pytest.raises(TypeError, match=re.escape(f"unknown option {typo!r} (did you mean")):
        app.task(**{typo: True})(lambda: None)


def test_handlers_given_as_decorator_keywords_run_bound_to_the_task(scratch):
    seen = []

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        seen.append(("failure", self.name, type(exc), task_id, args, einfo.type))

    def on_success(self, retval, task_id, args, kwargs):
        seen.append(("success", self.name, retval, task_id, args))

    @app.task(on_failure=on_failure, on_success=on_success)
    def divide(a, b):
        return a / b

    ok, bad = divide.apply((4, 2)), divide.apply((1, 0))
    name = divide.name
    assert seen == [
        ("success", name, 2.0, ok.id, (4, 2)),
        ("failure", name, ZeroDivisionError, bad.id, (1, 0), ZeroDivisionError),
    ]


def test_a_handler_keyword_that_is_not_a_function_fails_at_decoration(scratch):
    with pytest.raises(ImproperlyConfigured, match=re.escape("option 'on_failure' must be a")):

        @app.task(on_failure="log it")
        def job():
            pass


def test_request_update_sets_values_for_the_rest_of_the_invocation(scratch):
    @app.task(bind=True)
    def tagged(self):
        self.request.update(tenant="acme", retries=7)
        return (self.request.tenant, self.request.retries, self.request.get("tenant"))

    assert tagged.apply().get() == ["acme", 7, "acme"]


def test_a_base_class_defining_run_is_not_a_task_nor_lends_its_name(scratch):
    class AuditedTask(Task):
        def run(self, *args, **kwargs):
            return "base body"

        def on_success(self, retval, task_id, args, kwargs):
            pass

    @app.task(base=AuditedTask)
    def archive(x):
        return x * 2

    class Reindex(AuditedTask):
        def run(self):
            return "reindexed"

    base_name = f"{__name__}.AuditedTask"
    assert base_name not in app.tasks
    assert archive.name == f"{__name__}.archive" and archive.apply((2,)).get() == 4
    assert app.tasks[f"{__name__}.Reindex"].apply().get() == "reindexed"


def test_a_class_based_task_whose_init_names_its_own_class_imports(scratch):
    class CachedClient(Task):
        name = "tests.api.cached_client"

        def __init__(self):
            super().__init__()
            self.kind = CachedClient.__name__  # the class exists: built at first use

        def run(self):
            return self.kind

    assert app.tasks["tests.api.cached_client"].apply().get() == "CachedClient"
    assert isinstance(app.tasks["tests.api.cached_client"], CachedClient)


def test_a_class_based_task_with_a_bad_option_fails_at_import(scratch):
    with pytest.raises(ImproperlyConfigured, match=re.escape("option 'max_retries'")):

        class Broken(Task):
            max_retries = -1

            def run(self):
                pass


def test_current_task_is_the_running_task_and_false_outside(scratch):
    @app.task
    def whoami():
        return (current_task.name, current_task.request.id)

    result = whoami.apply()
    assert result.get() == [whoami.name, result.id]
    assert not current_task


def test_celerys_publish_retry_options_are_accepted(scratch, committed):
    @app.task
    def ping():
        return "pong"

    with committed():
        result = ping.apply_async(retry=True, retry_policy={"max_retries": 3}, add_to_parent=True)
    assert result.state == states.PENDING


def test_trail_and_reject_on_worker_lost_are_accepted_and_checked(scratch):
    @app.task(trail=False, reject_on_worker_lost=True, acks_late=True)
    def careful():
        pass

    assert careful.reject_on_worker_lost is True
    with pytest.raises(ImproperlyConfigured, match=re.escape("option 'trail' must be True")):
        app.task(trail="yes")(lambda: None)


def test_task_logger_records_reach_handlers_on_that_logger_with_name_and_id(scratch):
    from django_tasks import get_task_logger

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = get_task_logger("tests.api.billing")
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        @app.task
        def bill():
            logger.info("billed")

        result = bill.apply()
    finally:
        logger.removeHandler(handler)
    (record,) = [r for r in records if r.getMessage().endswith(": billed")]
    assert (record.task_name, record.task_id) == (bill.name, result.id)


def test_a_task_returning_a_result_handle_returns_its_id(scratch, committed):
    from django_tasks import AsyncResult, group

    @app.task
    def child(x):
        return x

    @app.task
    def spawn():
        return child.delay(1)

    @app.task
    def fan_out():
        return group(child.s(i) for i in range(3)).delay()

    with committed():
        sent = spawn.apply()
    sub_id = sent.get()
    from django_tasks.models import TaskMessage

    assert AsyncResult(sub_id).state == states.PENDING
    assert TaskMessage.objects.get(id=sub_id).name == child.name
    with committed():
        fanned = fan_out.apply()
    from django_tasks import GroupResult

    assert len(GroupResult.restore(fanned.get())) == 3


def test_replace_runs_the_replacement_under_the_tasks_id_eagerly(scratch):
    from django_tasks import chain

    @app.task
    def double(x):
        return x * 2

    @app.task(bind=True)
    def dispatch(self, x, twice=False):
        if twice:
            raise self.replace(chain(double.s(x), double.s()))
        raise self.replace(double.s(x))

    once = dispatch.apply((3,))
    assert (once.id, once.get()) == (once.id, 6)
    twice = dispatch.apply((3,), {"twice": True})
    assert twice.get() == 12


def test_replace_outside_a_running_task_says_so(scratch):
    @app.task(bind=True)
    def dispatch(self):
        raise self.replace(dispatch.s())

    with pytest.raises(RuntimeError, match=re.escape("replace() needs a running task")):
        dispatch()
