# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Ignore results you don't want"."""

from django_tasks import app

from .stubs import something


@app.task(ignore_result=True)
def mytask():
    something()
