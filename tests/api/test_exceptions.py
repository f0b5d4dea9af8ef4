"""A failed task's exception: stored as type, args and traceback; rebuilt by get()."""

import re

import pytest

from django_tasks import states
from django_tasks.exceptions import EncodeError, TaskError
from tests.api import bodies
from tests.api.guide import errors_bad, errors_kwargs, errors_ok, errors_required
from tests.api.guide.exceptions_ok import raise_http

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "args", "cls"),
    [
        ("ok", (404,), errors_ok.HttpError),
        ("bad", (404,), errors_bad.HttpError),
        ("required", (404,), errors_required.HttpError),
        ("kwargs", (404, {"h": "v"}, "body"), errors_kwargs.HttpError),
    ],
)
def test_the_guides_exceptions_are_rebuilt_with_their_class_and_args(kind, args, cls):
    result = raise_http.apply((kind, *args))
    with pytest.raises(cls) as raised:
        result.get()
    assert raised.value.args[0] == 404
    if kind != "ok":
        assert raised.value.status_code == 404
    if kind == "kwargs":
        assert (raised.value.headers, raised.value.body) == ({"h": "v"}, "body")


def test_keyword_arguments_not_passed_on_as_args_are_lost_as_the_guide_warns():
    result = raise_http.apply(("kwargs", 500), {"body": "oops"})
    with pytest.raises(errors_kwargs.HttpError) as raised:
        result.get()
    assert raised.value.body == "oops"  # passed on to __init__ as an arg: kept


@pytest.mark.parametrize(
    ("body", "exc_type", "message"),
    [
        (
            bodies.raise_local,
            "tests.api.bodies.raise_local.<locals>.LocalError",
            "tests.api.bodies.raise_local.<locals>.LocalError: defined in a function",
        ),
        (
            bodies.raise_keyword_only,
            "tests.api.bodies.NeedsKeyword",
            "tests.api.bodies.NeedsKeyword: code 7",
        ),
    ],
)
def test_an_exception_that_cannot_be_rebuilt_is_a_task_error_with_its_name(body, exc_type, message):
    result = body.apply()
    assert result.state == states.FAILURE
    with pytest.raises(TaskError, match=re.escape(message)) as raised:
        result.get()
    assert raised.value.exc_type == exc_type


def test_an_exception_whose_str_and_repr_raise_is_recorded_and_rebuilt():
    result = bodies.raise_unprintable.apply()
    assert result.state == states.FAILURE
    assert "tests.api.bodies.Unprintable" in result.traceback
    with pytest.raises(bodies.Unprintable):
        result.get()


def test_an_exception_whose_args_are_not_json_keeps_them_as_text():
    result = bodies.raise_unencodable.apply()
    with pytest.raises(ValueError, match=re.escape("<object object at")):
        result.get()


def test_a_result_that_is_not_json_fails_the_task_naming_it():
    result = bodies.return_object.apply()
    assert result.state == states.FAILURE
    with pytest.raises(
        EncodeError,
        match=re.escape(
            "Task 'tests.api.bodies.return_object' returned a value that is not JSON "
            "serializable: <object object at"
        ),
    ):
        result.get()
