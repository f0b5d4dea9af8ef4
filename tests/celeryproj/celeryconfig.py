"""A celeryconfig module in Celery 4's lower-case names (``app.config_from_object("...")``)."""

import re

task_default_queue = "fromconfig"
task_routes = (
    [
        ("tests.celeryproj.jobs.*", {"queue": "batch"}),
        (re.compile(r".*\.refresh$"), "cache"),
    ],
)
task_time_limit = 60
result_backend = "rpc://"
