# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""A task raising each of the guide's HttpError classes (the task is ours)."""

from django_tasks import app

from . import errors_bad, errors_kwargs, errors_ok, errors_required

ERRORS = {"ok": errors_ok.HttpError, "bad": errors_bad.HttpError,
          "required": errors_required.HttpError, "kwargs": errors_kwargs.HttpError}


@app.task
def raise_http(kind, *args, **kwargs):
    raise ERRORS[kind](*args, **kwargs)
