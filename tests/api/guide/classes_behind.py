# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Custom task classes": what ``@app.task`` does "roughly behind the scenes"."""

from django_tasks import app


class _AddTask(app.Task):

    def run(self, x, y):
        return x + y
add = app.tasks[_AddTask.name]  # noqa: E305 - as the guide writes it
