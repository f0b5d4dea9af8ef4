"""The Signal class (Celery's connect semantics) and the task signals of an apply() run."""

import gc
import logging
import re

import pytest
from django.dispatch import receiver

from django_tasks import signals
from django_tasks.signals import Signal
from tests import tasks


@pytest.fixture
def sig():
    return Signal(name="test_signal")


def test_decorator_returns_the_function(sig):
    def handler(sender, **kwargs):
        return "answer"

    assert sig.connect(handler) is handler
    assert sig.connect(sender="x")(handler) is handler


def test_decorated_handler_inside_a_function_survives_gc_collect(sig):
    calls = []

    def connect_inside_a_function():
        @sig.connect
        def handler(sender, **kwargs):
            calls.append(sender)

    connect_inside_a_function()
    gc.collect()
    sig.send(sender="s")
    assert calls == ["s"]


def test_weak_true_lets_the_handler_be_collected(sig):
    calls = []

    def connect_inside_a_function():
        def handler(sender, **kwargs):
            calls.append(sender)

        sig.connect(handler, weak=True)

    connect_inside_a_function()
    gc.collect()
    assert sig.send(sender="s") == []
    assert calls == []


def test_string_sender_matches_by_value(sig):
    calls = []

    @sig.connect(sender="tests.tasks.add")
    def handler(sender, **kwargs):
        calls.append(sender)

    name = ".".join(["tests", "tasks", "add"])  # a different str object, equal value
    sig.send(sender=name)
    sig.send(sender="tests.tasks.noop")
    assert calls == ["tests.tasks.add"]


def test_send_returns_receiver_response_pairs_and_survives_a_raising_receiver(sig, caplog):
    error = RuntimeError("broken handler")

    @sig.connect
    def broken(sender, **kwargs):
        raise error

    @sig.connect
    def fine(sender, **kwargs):
        return kwargs["value"]

    with caplog.at_level(logging.ERROR, logger="django_tasks.signals"):
        assert sig.send(sender=None, value=3) == [(broken, error), (fine, 3)]
    assert "signal test_signal receiver" in caplog.text
    assert sig.send_robust(sender=None, value=4) == [(broken, error), (fine, 4)]


def test_connect_twice_calls_once_and_disconnect_says_whether_it_did(sig):
    def handler(sender, **kwargs):
        return 1

    sig.connect(handler)
    sig.connect(handler)
    sig.connect(handler, dispatch_uid="uid")
    assert len(sig.send(sender=None)) == 2
    assert sig.disconnect(handler) is True
    assert sig.disconnect(handler) is False
    assert sig.disconnect(dispatch_uid="uid") is True
    assert sig.send(sender=None) == []


def test_receiver_without_kwargs_is_refused_at_connect(sig):
    def handler(sender):
        pass

    expected = f"Signal test_signal receiver {handler!r} must accept keyword arguments;"
    with pytest.raises(ValueError, match=re.escape(expected)):
        sig.connect(handler)


def test_djangos_receiver_decorator_connects_too(sig):
    @receiver(sig, sender="x")
    def handler(sender, **kwargs):
        return sender

    assert sig.send(sender="x") == [(handler, "x")]


def test_eventlet_signal_imports_but_refuses_to_connect():
    from django_tasks.signals import eventlet_pool_started

    expected = "Signal eventlet_pool_started is never sent here: there is no eventlet pool"
    with pytest.raises(NotImplementedError, match=re.escape(expected)):
        eventlet_pool_started.connect(lambda **kwargs: None)


@pytest.fixture
def received():
    """Connect a recorder to the task signals; yield {signal name: [kwargs]}."""
    seen: dict[str, list[dict]] = {}

    def recorder(signal, **kwargs):
        seen.setdefault(signal.name, []).append(kwargs)

    names = ("task_prerun", "task_postrun", "task_success", "task_failure", "task_retry")
    for name in names:
        getattr(signals, name).connect(recorder)
    yield seen
    for name in names:
        getattr(signals, name).disconnect(recorder)


@pytest.mark.django_db
def test_apply_sends_task_signals_with_celerys_argument_names(received):
    tasks.add.apply((2, 2))
    tasks.fail.apply(("boom",))
    assert sorted(received["task_prerun"][0]) == ["args", "kwargs", "sender", "task", "task_id"]
    assert received["task_prerun"][0]["sender"] is tasks.add
    assert sorted(received["task_postrun"][0]) == [
        "args",
        "kwargs",
        "retval",
        "sender",
        "state",
        "task",
        "task_id",
    ]
    assert received["task_postrun"][0]["state"] == "SUCCESS"
    assert received["task_success"][0]["result"] == 4
    assert sorted(received["task_failure"][0]) == [
        "args",
        "einfo",
        "exception",
        "kwargs",
        "sender",
        "task_id",
        "traceback",
    ]
    assert received["task_failure"][0]["sender"] is tasks.fail


@pytest.mark.django_db
def test_connect_with_a_task_sender_hears_only_that_task():
    calls = []

    @signals.task_prerun.connect(sender=tasks.add)
    def handler(sender, task_id, **kwargs):
        calls.append(sender)

    try:
        tasks.noop.apply()
        tasks.add.apply((1, 1))
    finally:
        signals.task_prerun.disconnect(handler, sender=tasks.add)
    assert calls == [tasks.add]


@pytest.mark.django_db
def test_apply_retry_sends_task_retry_with_request_reason_einfo(received):
    tasks.flaky.apply((1,))
    assert sorted(received["task_retry"][0]) == ["einfo", "reason", "request", "sender"]


@pytest.mark.django_db
def test_publish_signals_have_the_task_name_as_sender_and_celerys_arguments(
    django_capture_on_commit_callbacks,
):
    seen = []

    @signals.before_task_publish.connect(sender="tests.tasks.add")
    @signals.after_task_publish.connect(sender="tests.tasks.add")
    def handler(signal, sender, **kwargs):
        seen.append((signal.name, sorted(kwargs)))

    try:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.add.delay(1, 2)  # published at commit
    finally:
        signals.before_task_publish.disconnect(handler, sender="tests.tasks.add")
        signals.after_task_publish.disconnect(handler, sender="tests.tasks.add")
    assert seen == [
        (
            "before_task_publish",
            ["body", "declare", "exchange", "headers", "properties", "retry_policy", "routing_key"],
        ),
        ("after_task_publish", ["body", "exchange", "headers", "routing_key"]),
    ]
