"""``manage.py workers``: list live worker processes, their queues and current tasks."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from django_tasks import conf
from django_tasks.models import TaskMessage, Worker


class Command(BaseCommand):
    help = "List live workers (every host sharing this database) with their current tasks."

    def handle(self, *args, **options) -> None:
        using = conf.get("DATABASE")
        now = timezone.now()
        workers = list(Worker.objects.using(using).order_by("hostname", "supervisor", "name"))
        running: dict[str, list[str]] = {}
        rows = (
            TaskMessage.objects.using(using)
            .held()
            .filter(Q(started_at__isnull=False))
            .values_list("worker", "id", "name")
        )
        for worker, task_id, name in rows:
            running.setdefault(worker, []).append(f"{name}[{task_id}]")
        if not workers:
            self.stdout.write("No live workers.")
            return
        self.stdout.write(f"{'NAME':32} {'ROLE':10} {'PID':>7} {'QUEUES':20} {'BEAT':>6}  TASKS")
        for w in workers:
            role = "child" if w.supervisor else f"{w.pool}x{w.concurrency}"
            age = (now - w.heartbeat_at).total_seconds()
            tasks = ", ".join(running.get(w.name, [])) or "-"
            self.stdout.write(
                f"{w.name:32} {role:10} {w.pid:>7} {','.join(w.queues):20} {age:5.0f}s  {tasks}"
            )
