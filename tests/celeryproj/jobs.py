"""A module found by ``app.autodiscover_tasks(lambda: [...], related_name="jobs")``."""

from django_tasks import shared_task


@shared_task
def nightly():
    return "done"
