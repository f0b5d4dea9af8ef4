"""``manage.py runtasks``: start a worker (an adapter: the work lives in ``worker``)."""

from __future__ import annotations

import argparse
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from django_tasks import conf
from django_tasks.app import app
from django_tasks.broker import migrations_problem
from django_tasks.worker import Supervisor
from django_tasks.worker.supervisor import POOLS


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}.")
    return n


def positive_float(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        n = 0.0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value!r}.")
    return n


def queue_list(value: str) -> list[str]:
    queues = [q.strip() for q in value.split(",") if q.strip()]
    if not queues:
        raise argparse.ArgumentTypeError(f"must name at least one queue, not {value!r}.")
    return queues


def log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(
            f"must be one of debug, info, warning, error, critical, not {value!r}."
        )
    return level


class Command(BaseCommand):
    help = "Run a worker that claims tasks from the database and runs them."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "-c",
            "--concurrency",
            type=positive_int,
            default=None,
            help="Child processes (or threads). Default: the number of CPUs.",
        )
        parser.add_argument(
            "-Q",
            "--queues",
            type=queue_list,
            default=None,
            help="Comma-separated queues to serve. Default: DEFAULT_QUEUE.",
        )
        parser.add_argument("-P", "--pool", choices=POOLS, default="prefork")
        parser.add_argument(
            "--burst", action="store_true", help="Exit 0 once no task is ready (tests, cron, CI)."
        )
        parser.add_argument("--max-tasks-per-child", type=positive_int, default=None)
        parser.add_argument(
            "--max-memory-per-child",
            type=positive_int,
            default=None,
            help="KiB of resident memory after which a child is replaced.",
        )
        parser.add_argument("--time-limit", type=positive_float, default=None)
        parser.add_argument("--soft-time-limit", type=positive_float, default=None)
        parser.add_argument(
            "-n", "--hostname", default=None, help="Name of this worker (default: the host name)."
        )
        parser.add_argument("-l", "--loglevel", type=log_level, default="INFO")
        parser.add_argument(
            "--without-beat",
            action="store_true",
            help="Do not send periodic tasks from this worker (the others still do).",
        )
        parser.add_argument(
            "-B",
            "--beat",
            action="store_true",
            help="Accepted for Celery's sake: every worker already sends periodic tasks.",
        )

    def check(self, *args, **kwargs) -> None:
        # A database without the tables is the commonest first-hour mistake: one line that
        # names the fix, before the full system check report.
        if not conf.problems():
            problem = migrations_problem(conf.get("DATABASE"))
            if problem:
                raise CommandError(problem)
        super().check(*args, **kwargs)

    def handle(self, *args, **options) -> None:
        try:
            conf.check()
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        soft, hard = options["soft_time_limit"], options["time_limit"]
        limits = conf.limits_problem(soft, hard, lambda key: "--" + key.replace("_", "-"))
        if limits:
            raise CommandError(limits)
        if options["beat"] and options["without_beat"]:
            raise CommandError("--beat and --without-beat contradict each other; pick one.")
        try:
            worker = self._supervisor(options, soft, hard)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        code = worker.run()
        if code:
            sys.exit(code)

    def _supervisor(self, options, soft, hard) -> Supervisor:
        return Supervisor(
            app,
            concurrency=options["concurrency"],
            queues=options["queues"] or [],
            pool=options["pool"],
            burst=options["burst"],
            max_tasks_per_child=options["max_tasks_per_child"],
            max_memory_per_child=options["max_memory_per_child"],
            time_limit=hard,
            soft_time_limit=soft,
            hostname=options["hostname"],
            loglevel=options["loglevel"],
            beat=not options["without_beat"],
        )
