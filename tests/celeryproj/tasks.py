"""The project's tasks module: shared_task, app.task(bind=True), a class-based task."""

from django_tasks import Task, chord, group, shared_task

from .celery import app


@shared_task
def add(x, y):
    return x + y


@shared_task(name="mail.send_welcome")
def send_welcome(user_id):
    return f"welcome {user_id}"


@shared_task(name="mail.send_digest")
def send_digest(user_id):
    return f"digest {user_id}"


@app.task(bind=True, max_retries=2)
def refresh(self, key):
    return {"key": key, "retries": self.request.retries}


@app.task(queue="reports")
def build_report(day):
    return day


class CleanupTask(Task):
    """A Celery 4 class-based task, registered with app.register_task."""

    name = "proj.cleanup"

    def run(self, days=30):
        return days


cleanup = app.register_task(CleanupTask())


# Fan out and aggregate, as projects write it: a chord built in a helper a view calls.
@shared_task
def count_words(text):
    return len(text.split())


@shared_task
def total_words(counts, label="total"):
    return {label: sum(counts)}


def count_all(texts):
    return chord(count_words.s(t) for t in texts)(total_words.s(label="words"))


def count_all_piped(texts):
    return (group(count_words.s(t) for t in texts) | total_words.s()).delay()
