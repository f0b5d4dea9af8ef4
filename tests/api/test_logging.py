"""Task loggers carry the task's name and id; print can go to the log."""

import logging
import sys

import pytest

from django_tasks import get_task_logger
from tests.api.guide import bound, context, logs, logs_redirect

pytestmark = pytest.mark.django_db


def records(caplog, logger_name):
    return [r for r in caplog.records if r.name == logger_name]


def test_task_logger_records_carry_task_name_and_id(caplog):
    caplog.set_level(logging.INFO)
    result = logs.add.apply((1, 2), task_id="log-1")
    (record,) = records(caplog, "tests.api.guide.logs")
    assert record.getMessage() == "tests.api.guide.logs.add[log-1]: Adding 1 + 2"
    assert (record.task_name, record.task_id) == ("tests.api.guide.logs.add", "log-1")
    assert result.get() == 3


def test_outside_a_task_the_record_says_so(caplog):
    caplog.set_level(logging.INFO)
    get_task_logger("tests.api.outside").info("hello")
    (record,) = records(caplog, "tests.api.outside")
    assert (record.getMessage(), record.task_name, record.task_id) == ("hello", "???", "???")


def test_the_bound_example_logs_its_request_id(caplog):
    caplog.set_level(logging.INFO)
    bound.add.apply((1, 2), task_id="bound-1")
    (record,) = records(caplog, "tests.api.guide.bound")
    assert record.getMessage() == "tests.api.guide.bound.add[bound-1]: bound-1"


def test_get_logger_of_a_task_is_its_task_logger(caplog, scratch):
    from django_tasks import app

    @app.task
    def spam_filter(comment_id, remote_addr=None):
        logger = spam_filter.get_logger()
        logger.info("Running spam filter for comment %s", comment_id)

    caplog.set_level(logging.INFO)
    spam_filter.apply((7,), task_id="spam-1")
    (record,) = records(caplog, "tests.api.test_logging.spam_filter")
    assert record.getMessage() == (
        "tests.api.test_logging.spam_filter[spam-1]: Running spam filter for comment 7"
    )


def test_the_redirect_note_example_sends_print_to_the_task_logger(caplog):
    caplog.set_level(logging.INFO)
    before = sys.stdout, sys.stderr
    assert logs_redirect.add.apply((1, 2), task_id="redir-1").get() == 3
    assert (sys.stdout, sys.stderr) == before
    (record,) = records(caplog, "tests.api.guide.logs_redirect")
    assert (record.levelname, record.getMessage()) == (
        "WARNING",
        "tests.api.guide.logs_redirect.add[redir-1]: Adding 1 + 2",
    )


def test_dump_context_prints_the_request(capsys):
    context.dump_context.apply((1, 2), task_id="ctx-1")
    assert capsys.readouterr().out == ("Executing task id ctx-1, args: (1, 2) kwargs: {}\n")
