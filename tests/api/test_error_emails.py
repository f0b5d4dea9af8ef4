"""Error e-mails: Celery's mail to the site ADMINS, through Django's mail."""

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from django_tasks import states
from tests import tasks
from tests.api import bodies

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admins(site_admins):
    return site_admins


def test_send_error_emails_mails_admins_with_name_id_args_exception_and_traceback(mailoutbox):
    result = bodies.mailing.apply(("x",), {"y": 2}, task_id="mail-1")
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert mail.from_email == "tasks@example.com"
    assert mail.subject.startswith("[Django] [django_tasks@")
    assert mail.subject.endswith(
        "] Error: Task tests.api.bodies.mailing (mail-1): ValueError('mail about x')"
    )
    assert mail.body.startswith(
        "Task tests.api.bodies.mailing with id mail-1 raised exception:\n"
        "ValueError('mail about x')\n\n\n"
        "Task was called with args: ['x'] kwargs: {'y': 2}.\n\n"
        "The contents of the full traceback was:\n\nTraceback (most recent call last):\n"
    )
    assert 'raise ValueError(f"mail about {x}")' in mail.body
    assert result.traceback in mail.body


def test_send_task_error_emails_setting_is_the_default(mailoutbox):
    tasks.fail.apply()
    assert mailoutbox == []
    with override_settings(DJANGO_TASKS={"SEND_TASK_ERROR_EMAILS": True}):
        result = tasks.fail.apply(("kaput",))
    (mail,) = mailoutbox
    assert f"Task tests.tasks.fail ({result.id}): ValueError('kaput')" in mail.subject


def test_no_mail_for_expected_errors_successes_and_retries(mailoutbox):
    with override_settings(DJANGO_TASKS={"SEND_TASK_ERROR_EMAILS": True}):
        assert bodies.expected_error.apply().state == states.FAILURE
        assert tasks.flaky.apply((1,)).state == states.SUCCESS
    assert mailoutbox == []


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses connections (the mail server lies off the machine)."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def test_a_mail_that_cannot_be_sent_is_logged_and_the_task_still_fails(settings, caplog):
    settings.EMAIL_BACKEND = "tests.api.test_error_emails.RefusingBackend"
    result = bodies.mailing.apply(("x",))
    assert result.state == states.FAILURE
    assert f"task id={result.id} name=tests.api.bodies.mailing error-mail failed" in caplog.text
