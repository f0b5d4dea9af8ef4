# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Basics": a task from any callable; the task decorator applied last."""

import functools

from django.contrib.auth.models import User

from django_tasks import app


@app.task
def create_user(username, password):
    User.objects.create(username=username, password=password)


# -- "Multiple decorators" (the two decorators are ours: the guide leaves them out) ----------


def decorator1(fun):
    @functools.wraps(fun)
    def times_ten(*args, **kwargs):
        return fun(*args, **kwargs) * 10

    return times_ten


def decorator2(fun):
    @functools.wraps(fun)
    def plus_one(*args, **kwargs):
        return fun(*args, **kwargs) + 1

    return plus_one


@app.task
@decorator2
@decorator1
def add(x, y):
    return x + y
