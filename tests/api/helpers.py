"""Helpers of the worker tests."""

import signal


def stop(worker) -> str:
    """Stop a worker warm (SIGTERM), wait for it to exit 0, return its log."""
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.output()
    return worker.output()


def retry_delay(task_id: str) -> float:
    """Seconds between a waiting retry's last attempt and the time it is due again."""
    from django_tasks.models import TaskAttempt, TaskMessage

    row = TaskMessage.objects.get(id=task_id)
    last = TaskAttempt.objects.filter(task_id=task_id).order_by("-number").first()
    return (row.run_at - last.finished_at).total_seconds()
