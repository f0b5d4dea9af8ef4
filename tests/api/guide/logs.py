# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Logging": a module-level task logger."""

from django_tasks import app, get_task_logger

logger = get_task_logger(__name__)


@app.task
def add(x, y):
    logger.info('Adding {0} + {1}'.format(x, y))
    return x + y
