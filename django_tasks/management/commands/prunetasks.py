"""``manage.py prunetasks``: delete finished tasks older than RESULT_EXPIRES, in batches."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from django_tasks import conf
from django_tasks.broker import get_broker


class Command(BaseCommand):
    help = (
        "Delete finished tasks (and their attempts) done more than RESULT_EXPIRES seconds "
        "ago, in short transactions that hold no long locks."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            help="Seconds (default: DJANGO_TASKS['RESULT_EXPIRES']).",
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, older_than=None, batch_size=1000, **options) -> None:
        older_than = conf.get("RESULT_EXPIRES") if older_than is None else older_than
        if older_than is None:
            raise CommandError("RESULT_EXPIRES is None (results are kept); pass --older-than.")
        if older_than < 0 or batch_size < 1:
            raise CommandError("--older-than must be >= 0 and --batch-size >= 1.")
        deleted = get_broker().prune(older_than, batch_size=batch_size)
        self.stdout.write(f"Deleted {deleted} finished tasks older than {older_than:g} s.")
