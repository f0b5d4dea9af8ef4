"""crontab and interval schedules: Celery's syntax and examples, next runs across DST."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_tasks.schedules import crontab, crontab_parser, maybe_schedule, schedule, solar

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def _local(runs, tz):
    return [r.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") for r in runs]


@pytest.mark.parametrize(
    ("spec", "max_", "min_", "expected"),
    [  # the examples of Celery's crontab_parser docstring
        ("*/15", 60, 0, {0, 15, 30, 45}),
        ("*/4", 24, 0, {0, 4, 8, 12, 16, 20}),
        ("*", 7, 0, set(range(7))),
        ("*/3", 31, 1, {1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31}),
        ("*/2", 12, 1, {1, 3, 5, 7, 9, 11}),
        ("2-12/2", 12, 1, {2, 4, 6, 8, 10, 12}),
        ("1,13,30-45,50-59/2", 60, 0, {1, 13, *range(30, 46), 50, 52, 54, 56, 58}),
        ("0-5", 60, 0, {0, 1, 2, 3, 4, 5}),
        ("1,15", 31, 1, {1, 15}),
    ],
)
def test_crontab_parser_expands_celery_examples(spec, max_, min_, expected):
    assert crontab_parser(max_, min_).parse(spec) == expected


def test_crontab_fields_take_names_ints_sets_and_wrap_around():
    assert crontab(day_of_week="mon-fri").day_of_week == {1, 2, 3, 4, 5}
    assert crontab(day_of_week="fri-mon").day_of_week == {5, 6, 0, 1}
    assert crontab(day_of_week="sunday").day_of_week == {0}
    assert crontab(day_of_week=7).day_of_week == {0}
    assert crontab(minute={0, 30}).minute == {0, 30}
    assert crontab(hour=7).hour == {7}


def test_a_bad_crontab_field_names_the_field_and_the_value():
    with pytest.raises(ValueError, match=re.escape("crontab minute='61' is not valid")):
        crontab(minute="61")
    with pytest.raises(ValueError, match=re.escape("crontab day_of_week='xyz' is not valid")):
        crontab(day_of_week="xyz")


def test_solar_is_a_clear_error():
    with pytest.raises(ImproperlyConfigured, match="solar.*not supported.*crontab"):
        solar("sunset", -37.81, 144.96)


def test_intervals_come_as_seconds_timedeltas_or_schedule():
    assert maybe_schedule(30).seconds == 30
    assert maybe_schedule(timedelta(minutes=5)).human() == "every 5 minutes"
    assert schedule(run_every=1.0).human() == "every second"
    with pytest.raises(ValueError, match="more than 0 seconds"):
        schedule(run_every=0)
    with pytest.raises(TypeError, match="a schedule must be seconds"):
        maybe_schedule("daily")


def test_interval_catch_up_is_one_run_on_the_grid():
    tick = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    every = schedule(run_every=10)
    assert every.next_on_grid(tick, tick + timedelta(seconds=95)) == tick + timedelta(seconds=100)


def test_schedules_in_words():
    assert crontab(hour=7, minute=30, day_of_week=1).human() == "at 07:30 on Mondays"
    assert crontab(minute="*/15").human() == "every 15 minutes"
    assert crontab(minute=0, hour=9, day_of_week="mon-fri").human() == "at 09:00 on weekdays"
    assert schedule(30).human() == "every 30 seconds"


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [  # Celery's documented crontab examples (Periodic Tasks guide), from Wed 2026-01-07 12:00
        (crontab(), "2026-01-07 12:00", "2026-01-07 12:01"),
        (crontab(minute=0, hour=0), "2026-01-07 12:00", "2026-01-08 00:00"),
        (crontab(minute=0, hour="*/3"), "2026-01-07 12:00", "2026-01-07 15:00"),
        (crontab(minute=0, hour="0,3,6,9,12,15,18,21"), "2026-01-07 12:00", "2026-01-07 15:00"),
        (crontab(minute="*/15"), "2026-01-07 12:00", "2026-01-07 12:15"),
        (crontab(day_of_week="sunday"), "2026-01-07 12:00", "2026-01-11 00:00"),
        (crontab(minute="*", hour="*", day_of_week="sun"), "2026-01-07 12:00", "2026-01-11 00:00"),
        (crontab(minute="*/10", hour="3,17,22", day_of_week="thu,fri"), "2026-01-07 12:00",
         "2026-01-08 03:00"),
        (crontab(minute=0, hour="*/2,*/3"), "2026-01-07 12:00", "2026-01-07 14:00"),
        (crontab(minute=0, hour="*/5"), "2026-01-07 12:00", "2026-01-07 15:00"),
        (crontab(minute=0, hour="*/3,8-17"), "2026-01-07 12:00", "2026-01-07 13:00"),
        (crontab(0, 0, day_of_month="2"), "2026-01-07 12:00", "2026-02-02 00:00"),
        (crontab(0, 0, day_of_month="2-30/2"), "2026-01-07 12:00", "2026-01-08 00:00"),
        (crontab(0, 0, day_of_month="1-7,15-21"), "2026-01-07 12:00", "2026-01-15 00:00"),
        (crontab(0, 0, day_of_month="11", month_of_year="5"), "2026-01-07 12:00",
         "2026-05-11 00:00"),
        (crontab(0, 0, month_of_year="*/3"), "2026-01-07 12:00", "2026-01-08 00:00"),
        # Both day fields must match (Celery's rule, not cron's "either").
        (crontab(0, 0, day_of_week=1, day_of_month="1-7"), "2026-01-07 12:00",
         "2026-02-02 00:00"),
    ],
)  # fmt: skip
def test_next_run_of_celery_documented_examples(cron, after, expected, settings):
    settings.TIME_ZONE = "UTC"
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert cron.next_after(moment) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Spring forward: 02:30 does not exist that night, so it runs at 03:00, once.
        ("Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC),
         ["2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"]),
        ("America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC),
         ["2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"]),
    ],
)  # fmt: skip
def test_a_wall_time_that_does_not_exist_runs_at_the_next_valid_minute(zone, after, expected):
    cron = crontab(minute=30, hour=2, tz=zone)
    assert _local(cron.next_runs(after, 3), ZoneInfo(zone)) == expected


def _twice(zone, after, hour, minute):
    return _local(crontab(minute=minute, hour=hour, tz=zone).next_runs(after, 2), ZoneInfo(zone))


def test_berlin_fall_back_runs_the_repeated_time_once():
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert _twice("Europe/Berlin", after, 2, 30) == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_new_york_fall_back_runs_the_repeated_time_once():
    after = datetime(2026, 10, 31, 12, tzinfo=UTC)
    assert _twice("America/New_York", after, 1, 30) == [
        "2026-11-01 01:30 EDT",
        "2026-11-02 01:30 EST",
    ]


def test_every_15_minutes_skips_the_second_pass_of_the_repeated_hour_in_berlin():
    runs = crontab(minute="*/15", tz="Europe/Berlin").next_runs(
        datetime(2026, 10, 24, 23, 50, tzinfo=UTC), 6
    )
    assert _local(runs, BERLIN) == [
        "2026-10-25 02:00 CEST",
        "2026-10-25 02:15 CEST",
        "2026-10-25 02:30 CEST",
        "2026-10-25 02:45 CEST",
        "2026-10-25 03:00 CET",
        "2026-10-25 03:15 CET",
    ]


def test_crontab_uses_the_site_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    run = crontab(minute=0, hour=9).next_after(datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    assert run == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    assert run.astimezone(NEW_YORK).hour == 9


def test_crontab_round_trips_through_its_cron_line():
    cron = crontab(minute="*/15", hour="8-17", day_of_week="mon-fri")
    assert cron.to_string() == "*/15 8-17 * * mon-fri"
    assert crontab.from_string(cron.to_string()) == cron
