# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Context": a task reading its request."""

from django_tasks import app


@app.task(bind=True)
def dump_context(self, x, y):
    print('Executing task id {0.id}, args: {0.args!r} kwargs: {0.kwargs!r}'.format(
            self.request))
