"""Test settings with three DJANGO_TASKS mistakes (tests/integration/test_first_hour.py)."""

from tests.settings import *  # noqa: F403

DJANGO_TASKS = {
    **DJANGO_TASKS,  # noqa: F405
    "DEFAULT_RETRY_DELAYS": 3,
    "TRAK_STARTED": True,
    "DEFAULT_PRIORITY": 99,
}
