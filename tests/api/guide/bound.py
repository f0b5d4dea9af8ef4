# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Bound tasks" (3.1's module-level ``task`` decorator)."""

from django_tasks import get_task_logger, task

logger = get_task_logger(__name__)


@task(bind=True)
def add(self, x, y):
    logger.info(self.request.id)
