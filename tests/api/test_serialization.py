"""The JSON wire format: kombu's type markers round-trip args and results, here and in a worker."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy

from django_tasks import states
from django_tasks.broker.base import Broker
from django_tasks.exceptions import EncodeError, TaskError
from django_tasks.models import TaskMessage
from django_tasks.serialization import (
    check_serializer,
    decode,
    dumps,
    encode_call,
    encode_call_text,
    encode_exception,
    encode_result,
    rebuild_exception,
    revive,
    to_json,
)
from tests import tasks
from tests.api import bodies

PARIS = ZoneInfo("Europe/Paris")

#: Each value, and the marker kombu (Celery >= 5.3) writes for it (timedelta is ours).
MARKED = [
    (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "datetime", "2026-01-02T03:04:05.000006+00:00"),
    (datetime(2026, 1, 2, 3, 4, 5), "datetime", "2026-01-02T03:04:05"),
    (datetime(2026, 7, 1, 12, tzinfo=PARIS), "datetime", "2026-07-01T12:00:00+02:00"),
    (date(2026, 1, 2), "date", "2026-01-02"),
    (time(3, 4, 5, 6), "time", "03:04:05.000006"),
    (time(3, 4, tzinfo=timezone(timedelta(hours=-5))), "time", "03:04:00-05:00"),
    (Decimal("1.10"), "decimal", "1.10"),
    (Decimal("-0E-7"), "decimal", "-0E-7"),
    (Decimal("12345678901234567890.123456789012345678"), "decimal", None),
    (Decimal("Infinity"), "decimal", "Infinity"),
    (UUID("0b7e41c2-4f1a-4b7e-9c3d-5e6f7a8b9c0d"), "uuid", None),
    (b"caf\xc3\xa9", "bytes", "café"),
    (b"\xff\x00\x01", "base64", "/wAB"),
    (timedelta(days=3, hours=4, microseconds=7), "timedelta", "P3DT04H00M00.000007S"),
    (timedelta(microseconds=-1), "timedelta", "-P0DT00H00M00.000001S"),
    (timedelta.max, "timedelta", "P999999999DT23H59M59.999999S"),
]


def _same(a, b) -> bool:
    """Equal, of the same type, and (for datetimes and times) at the same UTC offset."""
    if type(a) is not type(b) or a != b:
        return False
    if isinstance(a, datetime | time):
        return a.utcoffset() == b.utcoffset()
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()  # exact digits: 1.10 is not 1.1
    return True


# -- the codec -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kind", "text"), MARKED, ids=lambda v: repr(v)[:40])
def test_each_type_is_written_as_kombus_marker_and_read_back_as_itself(value, kind, text):
    encoded = json.loads(dumps(value))
    assert list(encoded) == ["__type__", "__value__"]
    assert encoded["__type__"] == kind
    if text is not None:
        assert encoded["__value__"] == text
    assert _same(decode(dumps(value)), value)
    assert _same(revive(encoded), value)


def test_uuids_are_written_as_kombu_writes_them():
    value = uuid4()
    assert json.loads(dumps(value)) == {
        "__type__": "uuid",
        "__value__": {"hex": value.hex, "version": 4},
    }
    assert _same(decode(dumps(UUID(int=1))), UUID(int=1))  # no version: still exact


def test_an_aware_datetime_keeps_its_offset_and_a_zone_becomes_that_fixed_offset():
    value = datetime(2026, 1, 15, 9, 30, tzinfo=PARIS)
    back = decode(dumps(value))
    assert back == value and back.utcoffset() == timedelta(hours=1)
    assert back.tzinfo == timezone(timedelta(hours=1))  # the offset, not the zone's name
    assert decode(dumps(datetime(2026, 1, 15, 9, 30))).tzinfo is None  # naive stays naive


def test_markers_round_trip_nested_in_lists_and_dicts():
    value = {
        "when": [datetime(2026, 1, 2, tzinfo=UTC), {"day": date(2026, 1, 3)}],
        "money": {"total": Decimal("10.00"), "parts": (Decimal("4.50"), Decimal("5.50"))},
        "raw": [b"\x00", {"nested": [timedelta(seconds=90)]}],
    }
    back = decode(dumps(value))
    assert back == {**value, "money": {**value["money"], "parts": list(value["money"]["parts"])}}
    assert type(back["raw"][1]["nested"][0]) is timedelta
    assert str(back["money"]["parts"][0]) == "4.50"


def test_reads_kombus_own_text():
    # kombu.utils.json.dumps output (Python's default separators), for a Celery message's args.
    text = (
        '[{"__type__": "datetime", "__value__": "2026-01-02T03:04:05+00:00"}, '
        '{"__type__": "date", "__value__": "2026-01-02"}, '
        '{"__type__": "time", "__value__": "03:04:05"}, '
        '{"__type__": "decimal", "__value__": "1.5"}, '
        '{"__type__": "uuid", "__value__": {"hex": "0b7e41c24f1a4b7e9c3d5e6f7a8b9c0d", '
        '"version": 4}}, '
        '{"__type__": "bytes", "__value__": "abc"}, '
        '{"__type__": "base64", "__value__": "/wAB"}]'
    )
    assert decode(text) == [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        date(2026, 1, 2),
        time(3, 4, 5),
        Decimal("1.5"),
        UUID("0b7e41c2-4f1a-4b7e-9c3d-5e6f7a8b9c0d"),
        b"abc",
        b"\xff\x00\x01",
    ]


@pytest.mark.parametrize(
    "value",
    [
        {"__type__": "datetime", "__value__": "2026-01-02T03:04:05"},
        {"__type__": "no-such-type", "__value__": [1, 2]},
        {"__type__": "dict", "__value__": [["a", 1]]},
        [{"a": {"__value__": 1, "__type__": "decimal"}}],
        {"__type__": "decimal", "__value__": Decimal("2"), "other": 1},
    ],
    ids=["known type", "unknown type", "our own escape", "nested", "more keys"],
)
def test_a_users_dict_shaped_like_a_marker_comes_back_as_the_same_dict(value):
    # kombu would turn the first into a datetime and raise for the second; here each is
    # escaped when written (a "dict" marker of its items) and comes back as it was.
    back = decode(dumps(value))
    assert back == value
    assert revive(to_json(value)) == value


def test_a_marker_this_version_cannot_read_is_kept_as_it_is_never_lost():
    for text in (
        '{"__type__": "no-such-type", "__value__": 1}',
        '{"__type__": "decimal", "__value__": "not a number"}',
        '{"__type__": "datetime", "__value__": 5}',
        '{"__type__": "uuid", "__value__": {"nohex": 1}}',
        '{"__type__": "timedelta", "__value__": "soon"}',
        '{"__type__": "base64", "__value__": "%%%"}',
    ):
        assert decode(text) == json.loads(text)
        assert revive(json.loads(text)) == json.loads(text)


def test_plain_json_is_unchanged_and_compact():
    value = [1, "abc", {"x": 2, "y": [True, None, 1.5]}]
    assert dumps(value) == '[1,"abc",{"x":2,"y":[true,null,1.5]}]'
    assert decode(dumps(value)) == value
    assert decode(None) is None
    assert decode(b'{"a": 1}') == {"a": 1}


def test_lazy_strings_are_text_and_objects_with_json_reduce_as_kombu_lets_them():
    class Point:
        def __json__(self):
            return {"x": 1, "when": date(2026, 1, 2)}

    assert decode(dumps([gettext_lazy("Hello"), Point()])) == [
        "Hello",
        {"x": 1, "when": date(2026, 1, 2)},
    ]


def test_decimal_nan_round_trips_but_a_float_nan_is_refused_naming_the_argument():
    # A Decimal's marker holds text ("NaN"), valid JSON; a float NaN would be written as the
    # bare token NaN, which is not JSON and which PostgreSQL's jsonb refuses.
    assert decode(dumps(Decimal("NaN"))).is_nan()
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(
            EncodeError,
            match=re.escape(
                f"Task 'tests.tasks.add' argument 'y' is not JSON serializable: [{bad!r}] "
                f"(it holds {bad!r}); pass its id or a JSON value."
            ),
        ):
            encode_call("tests.tasks.add", (1, [bad]), {}, ["x", "y"])
        with pytest.raises(EncodeError, match="argument 'y'"):
            encode_call_text("tests.tasks.add", (1, bad), {}, ["x", "y"])
        with pytest.raises(
            EncodeError,
            match=re.escape(
                f"Task 'tests.tasks.add' returned a value that is not JSON serializable: {bad!r}."
            ),
        ):
            encode_result("tests.tasks.add", {"v": bad})


def test_other_types_still_fail_naming_the_argument():
    with pytest.raises(
        EncodeError,
        match=re.escape(
            "Task 't.x' argument 'tags' is not JSON serializable: {1, 2}; pass its id or a "
            "JSON value."
        ),
    ):
        encode_call("t.x", (), {"tags": {1, 2}})
    with pytest.raises(EncodeError, match=re.escape("argument 'x' is not JSON serializable")):
        encode_call_text("t.x", (bytearray(b"a"),), {}, ["x"])


def test_encode_call_gives_what_the_worker_gets_and_encode_call_text_what_is_stored():
    when = datetime(2026, 1, 2, tzinfo=UTC)
    args, kwargs = encode_call("t.x", (when, (1, 2)), {"d": Decimal("1.5")})
    assert args == [when, [1, 2]] and kwargs == {"d": Decimal("1.5")}
    assert encode_call_text("t.x", (when,), {"d": Decimal("1.5")}) == (
        '[{"__type__":"datetime","__value__":"2026-01-02T00:00:00+00:00"}]',
        '{"d":{"__type__":"decimal","__value__":"1.5"}}',
    )
    assert encode_result("t.x", {"at": when}) == {"at": when}


# -- serializer options ------------------------------------------------------------------------


def test_check_serializer_accepts_json_and_refuses_anything_else_naming_where():
    check_serializer("Task 'x.y' option 'serializer'", "json")
    check_serializer("Task 'x.y' option 'serializer'", None)
    with pytest.raises(
        ImproperlyConfigured,
        match=re.escape(
            "Task 'x.y' option 'serializer' is 'pickle', but only 'json' is supported: "
            "messages are JSON in the database; pass ids or JSON values (datetime, Decimal, "
            "UUID, bytes, timedelta round-trip)."
        )
        + "$",
    ):
        check_serializer("Task 'x.y' option 'serializer'", "pickle")
    for where, value in (("CELERY_TASK_SERIALIZER", "yaml"), ("DJANGO_TASKS['X']", 1)):
        with pytest.raises(ImproperlyConfigured, match=re.escape(f"{where} is {value!r}, but")):
            check_serializer(where, value)


# -- exceptions ----------------------------------------------------------------------------------


def test_an_exceptions_non_json_args_are_kept_as_their_repr_and_the_rest_as_values():
    described = encode_exception(
        tasks.WidgetError(tasks.Widget("gear"), date(2026, 1, 2), {"n": 1})
    )
    assert described["exc_args"] == ["<Widget gear>", date(2026, 1, 2), {"n": 1}]
    # Through the row's JSON and back: a JSONField gives markers, revive reads them.
    rebuilt = rebuild_exception(
        described["exc_type"], revive(to_json(described["exc_args"])), described["exc_message"]
    )
    assert type(rebuilt) is tasks.WidgetError
    assert rebuilt.args == ("<Widget gear>", date(2026, 1, 2), {"n": 1})
    assert "<Widget gear>" in str(rebuilt)


def test_an_exception_whose_str_needs_the_original_object_is_rebuilt_as_a_task_error():
    exc = tasks.WidgetNameError(tasks.Widget("gear"))
    described = encode_exception(exc)
    assert described["exc_message"] == "widget gear is broken"
    rebuilt = rebuild_exception(
        described["exc_type"], described["exc_args"], described["exc_message"]
    )
    assert type(rebuilt) is TaskError
    assert str(rebuilt) == "tests.tasks.WidgetNameError: widget gear is broken"


def test_an_exception_that_never_printed_is_rebuilt_as_its_own_type():
    described = encode_exception(bodies.Unprintable())
    rebuilt = rebuild_exception(
        described["exc_type"], described["exc_args"], described["exc_message"]
    )
    assert type(rebuilt) is bodies.Unprintable


# -- running here (apply) gives the types a worker gives -------------------------------------------

ALL = {
    "datetime": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=PARIS),
    "naive": datetime(2026, 1, 2, 3, 4, 5),
    "date": date(2026, 1, 2),
    "time": time(3, 4, 5),
    "decimal": Decimal("3.14159265358979323846264338327950288"),
    "uuid": UUID("0b7e41c2-4f1a-4b7e-9c3d-5e6f7a8b9c0d"),
    "bytes": b"\x00\xff",
    "timedelta": timedelta(days=1, microseconds=1),
}
NAMES = {
    "datetime": "datetime",
    "naive": "datetime",
    "date": "date",
    "time": "time",
    "decimal": "Decimal",
    "uuid": "UUID",
    "bytes": "bytes",
    "timedelta": "timedelta",
}


def _check(result: dict) -> None:
    assert result["args"] == list(NAMES.values())
    assert result["kwargs"] == {**NAMES, "nested": "dict"}
    args, kwargs = result["values"]
    for got, want in zip(args, ALL.values(), strict=True):
        assert _same(got, want), (got, want)
    for key, want in ALL.items():
        assert _same(kwargs[key], want), (key, kwargs[key], want)
    assert kwargs["nested"] == {"list": [ALL["decimal"], {"__type__": "x", "__value__": 1}]}


def _call() -> tuple[tuple, dict]:
    nested = {"list": [ALL["decimal"], {"__type__": "x", "__value__": 1}]}
    return tuple(ALL.values()), {**ALL, "nested": nested}


def test_apply_gives_the_body_and_the_result_the_same_types_as_a_worker():
    args, kwargs = _call()
    _check(tasks.type_names.apply(args, kwargs).get())


# -- in a worker, on each database ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_gives_the_body_these_types_and_get_returns_them(burst):
    args, kwargs = _call()
    one = tasks.type_names.apply_async(args, kwargs)
    many = tasks.type_names.enqueue_many([(args, kwargs)] * 3)  # the text-once path
    chained = (tasks.add.s(ALL["timedelta"], timedelta(seconds=1)) | tasks.type_names.s())()
    widget = tasks.raise_with_object.delay("widget", "gear")
    attribute = tasks.raise_with_object.delay("attribute", "gear")
    model = tasks.raise_with_object.delay("model", "row-7")
    retried = tasks.retry_with_a_later_date.delay(date(2026, 1, 2))
    stored = TaskMessage.objects.get(id=one.id).args[0]
    assert stored == {"__type__": "datetime", "__value__": "2026-01-02T03:04:05.000006+01:00"}

    burst()

    for result in (one, *many):
        assert result.state == states.SUCCESS
        _check(result.get(timeout=5))
    follow = chained.get(timeout=5)
    assert follow["args"] == ["timedelta"]
    assert follow["values"][0] == [timedelta(days=1, seconds=1, microseconds=1)]

    # retry(args=...) stores the new arguments with their markers too.
    assert retried.get(timeout=5) == ["date", date(2026, 1, 3)]

    # A non-JSON exception argument is stored as its repr: the rebuilt exception prints.
    assert widget.state == states.FAILURE
    assert type(widget.result) is tasks.WidgetError
    assert str(widget.result) == "<Widget gear>"
    with pytest.raises(tasks.WidgetError, match="^<Widget gear>$"):
        widget.get()
    assert TaskMessage.objects.get(id=widget.id).exc_message == "<Widget gear>"

    # One whose __str__ needs the original object: a TaskError with the worker's message.
    assert attribute.state == states.FAILURE
    assert str(attribute.result) == "tests.tasks.WidgetNameError: widget gear is broken"
    with pytest.raises(TaskError, match="widget gear is broken"):
        attribute.get()

    # A model instance (the guide's "pass the id" case, raised rather than passed).
    assert model.state == states.FAILURE
    assert type(model.result) is LookupError
    assert model.result.args == ("<Execution: row-7>", "and a JSON argument")
    with pytest.raises(LookupError, match=re.escape("<Execution: row-7>")):
        model.get()


@pytest.mark.django_db(transaction=True)
def test_the_portable_broker_claims_the_same_values_as_the_vendors():
    # MySQL's broker is the ORM one: its claim reads JSONField values, revived here.
    args, kwargs = _call()
    sent = tasks.type_names.apply_async(args, kwargs, queue="portable")
    (message,) = Broker("default").claim("w", ["portable"], 5)
    assert message.id == sent.id
    for got, want in zip(message.args, ALL.values(), strict=True):
        assert _same(got, want)
    assert message.kwargs["nested"] == kwargs["nested"]


@pytest.mark.django_db(transaction=True)
def test_update_state_meta_round_trips_to_async_result():
    sent = tasks.noop.apply_async(queue="meta")
    broker = Broker("default")
    (message,) = broker.claim("w", ["meta"], 1)
    meta = {"at": datetime(2026, 1, 2, tzinfo=UTC), "left": timedelta(minutes=5)}
    assert broker.update_state(message.id, "PROGRESS", meta)
    assert TaskMessage.objects.get(id=sent.id).result["at"]["__type__"] == "datetime"
    assert sent.state == "PROGRESS"
    assert sent.info == meta
