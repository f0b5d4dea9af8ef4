"""Declaring entries the Celery ways, checked at start, stored in the database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_tasks import app, conf
from django_tasks.models import PeriodicTask, TaskMessage
from django_tasks.schedules import crontab
from django_tasks.worker.beat import CLEANUP_ENTRY, Beat, declared_entries, tick_task_id
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app_state():
    saved, entries = conf.state(), dict(app.periodic_entries)
    yield
    conf.restore(saved)
    app.periodic_entries.clear()
    app.periodic_entries.update(entries)


def test_beat_schedule_setting_is_stored_at_sync(settings):
    settings.DJANGO_TASKS = {
        "BEAT_SCHEDULE": {
            "report": {
                "task": "tests.tasks.add",
                "schedule": crontab(minute="*/15"),
                "args": (1, 2),
            },
            "tick": {"task": "tests.tasks.noop", "schedule": 30.0},
        }
    }
    Beat(app, "default", "test").sync()
    report = PeriodicTask.objects.get(name="report")
    assert (report.crontab, report.interval, report.args) == ("*/15 * * * *", None, [1, 2])
    assert PeriodicTask.objects.get(name="tick").interval == 30.0
    assert PeriodicTask.objects.get(name=CLEANUP_ENTRY).crontab == "0 4 * * *"
    assert all(PeriodicTask.objects.values_list("from_settings", flat=True))


def test_an_entry_removed_from_settings_is_removed_and_admin_entries_stay(settings):
    PeriodicTask.objects.create(name="mine", task="tests.tasks.noop", interval=5)
    settings.DJANGO_TASKS = {"BEAT_SCHEDULE": {"old": {"task": "tests.tasks.noop", "schedule": 5}}}
    Beat(app, "default", "test").sync()
    settings.DJANGO_TASKS = {"BEAT_SCHEDULE": {}, "RESULT_EXPIRES": None}
    Beat(app, "default", "test").sync()
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["mine"]


def test_an_unknown_task_is_an_error_naming_the_entry(settings):
    settings.DJANGO_TASKS = {
        "BEAT_SCHEDULE": {"nightly": {"task": "tests.tasks.ad", "schedule": 5}}
    }
    expected = (
        "Periodic task 'nightly' (DJANGO_TASKS['BEAT_SCHEDULE']): task 'tests.tasks.ad' is not "
        "registered in this worker. Did you mean 'tests.tasks.add'?"
    )
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
        declared_entries(app)


def test_a_bad_crontab_is_an_error_naming_the_entry(settings):
    settings.DJANGO_TASKS = {
        "BEAT_SCHEDULE": {"bad": {"task": "tests.tasks.noop", "schedule": "every day"}}
    }
    with pytest.raises(ImproperlyConfigured, match=re.escape("Periodic task 'bad'")):
        declared_entries(app)


def test_a_misspelt_entry_key_is_an_error(settings):
    settings.DJANGO_TASKS = {
        "BEAT_SCHEDULE": {"x": {"task": "tests.tasks.noop", "schedule": 5, "kwarg": {}}}
    }
    with pytest.raises(ImproperlyConfigured, match=re.escape("Did you mean 'kwargs'?")):
        declared_entries(app)


def test_celery_beat_schedule_via_app_conf(app_state, settings):
    settings.DJANGO_TASKS = {}
    app.conf.beat_schedule = {"ping": {"task": "tests.tasks.add", "schedule": 10.0, "args": (1, 1)}}
    assert declared_entries(app)["ping"]["interval"] == 10.0


def test_add_periodic_task_in_on_after_configure(app_state):
    @app.on_after_configure.connect
    def setup(sender, **kwargs):
        sender.add_periodic_task(10.0, tasks.add.s(2, 2), name="add every 10")
        sender.add_periodic_task(crontab(hour=7, minute=30, day_of_week=1), tasks.noop.s())

    try:
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.finalize()
    finally:
        app.on_after_configure.disconnect(setup)
    entries = declared_entries(app)
    assert entries["add every 10"]["args"] == [2, 2]
    assert entries["tests.tasks.noop()"]["crontab"] == "30 7 * * 1"


def test_two_schedulers_reading_the_same_tick_send_it_once(settings):
    settings.DJANGO_TASKS = {"RESULT_EXPIRES": None}
    tick = timezone.now() - timedelta(seconds=1)
    PeriodicTask.objects.create(name="race", task="tests.tasks.noop", interval=60)
    PeriodicTask.objects.filter(name="race").update(next_run_at=tick)
    first, second = Beat(app, "default", "a"), Beat(app, "default", "b")
    due = PeriodicTask.objects.get(name="race")
    # Both read the row as due before either writes: only the compare-and-set winner sends.
    assert first.run_due() == 1
    PeriodicTask.objects.filter(name="race").update(next_run_at=due.next_run_at)
    PeriodicTask.objects.filter(name="race").update(next_run_at=tick)
    # The same tick read again (as a late reader would): its derived id already exists.
    assert second.run_due() == 0
    assert list(TaskMessage.objects.values_list("id", flat=True)) == [tick_task_id("race", tick)]


def test_missed_ticks_collapse_into_one_run_and_say_so(settings, caplog):
    settings.DJANGO_TASKS = {"RESULT_EXPIRES": None}
    tick = timezone.now().replace(microsecond=0) - timedelta(seconds=35)
    PeriodicTask.objects.create(name="after-downtime", task="tests.tasks.noop", interval=10)
    PeriodicTask.objects.filter(name="after-downtime").update(next_run_at=tick)
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    PeriodicTask.objects.create(name="cron-down", task="tests.tasks.noop", crontab="* * * * *")
    PeriodicTask.objects.filter(name="cron-down").update(next_run_at=minute)
    with caplog.at_level("WARNING", logger="django_tasks.worker.beat"):
        assert Beat(app, "default", "a").run_due() == 2
    # One run each, for the tick that was due; the next tick is the first one after now.
    sent = set(TaskMessage.objects.values_list("id", flat=True))
    assert sent == {tick_task_id("after-downtime", tick), tick_task_id("cron-down", minute)}
    entry = PeriodicTask.objects.get(name="after-downtime")
    assert entry.next_run_at == tick + timedelta(seconds=40)
    lines = [r.getMessage() for r in caplog.records if "event=ticks-collapsed" in r.getMessage()]
    assert any("name=after-downtime " in line and "skipped=3 " in line for line in lines), lines
    # Five minutes late on an every-minute crontab: the next tick is the minute after now,
    # so the 5 minutes between are skipped (6 if a minute boundary passed meanwhile).
    [cron] = [line for line in lines if "name=cron-down " in line]
    assert re.search(r"skipped=[56] ", cron), cron
