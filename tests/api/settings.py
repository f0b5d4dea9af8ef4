"""
Settings of the runtasks workers the API tests start (``--settings tests.api.settings``).

The test suite's settings, plus the modules of task bodies the API tests use, plus what a
test asks for through the environment: ``DJANGO_TASKS_EXTRA`` (JSON merged into
DJANGO_TASKS) and ``EMAIL_FILE_PATH`` (mail written to files there, for error e-mails).
"""

import json
import os

from tests.settings import *  # noqa: F403

DJANGO_TASKS = {  # noqa: F405
    **DJANGO_TASKS,  # noqa: F405
    "IMPORTS": ["tests.api.bodies", "tests.api.guide"],
    **json.loads(os.environ.get("DJANGO_TASKS_EXTRA", "{}")),
}

if os.environ.get("EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
