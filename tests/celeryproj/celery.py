"""The project's celery.py, as Celery's "First steps with Django" writes it."""

import os

from django_tasks import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.celeryproj.settings")

app = Celery("proj", include=["tests.celeryproj.tasks"])

# Using a string here means the worker doesn't have to serialize the configuration object
# to child processes. namespace='CELERY' means all celery-related configuration keys
# should have a `CELERY_` prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Load task modules from all registered Django apps, and the project's jobs module.
app.autodiscover_tasks()
app.autodiscover_tasks(lambda: ["tests.celeryproj"], related_name="jobs")

app.conf.update(
    accept_content=["json"],
    result_serializer="json",
    broker_connection_retry_on_startup=True,
)
app.conf.worker_hijack_root_logger = False

#: What the signal receivers below saw (the tests read it).
seen = []


@app.on_after_configure.connect
def setup_periodic_tasks(sender, **kwargs):
    seen.append(("configured", sender, kwargs.get("source")))


@app.on_after_finalize.connect
def finalized(sender, **kwargs):
    seen.append(("finalized", sender, None))


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    return f"Request: {self.request!r}"
