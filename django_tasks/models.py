"""The queue and the result store: one row per task, per attempt, per live worker process."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import states
from .broker.predicates import CLAIMABLE, FINISHED, HELD


class TaskMessageQuerySet(models.QuerySet):
    """Named sets of task rows; each one's predicate is defined once, in broker.predicates."""

    def claimable(self) -> TaskMessageQuerySet:
        """Rows a worker could claim now or later (waiting: PENDING or RETRY)."""
        return self.filter(CLAIMABLE.q)

    def held(self) -> TaskMessageQuerySet:
        """Rows some worker holds: claimed or running, custom update_state states too."""
        return self.filter(HELD.q)

    def finished(self) -> TaskMessageQuerySet:
        """Finished rows (FINISHED_STATES)."""
        return self.filter(FINISHED.q)


class TaskMessage(models.Model):
    """One task invocation: the queue's message while it waits, its result once done."""

    id = models.CharField(_("task id"), max_length=64, primary_key=True)
    name = models.CharField(_("name"), max_length=200)
    queue = models.CharField(_("queue"), max_length=100, default="default")
    priority = models.SmallIntegerField(_("priority"), default=0)
    args = models.JSONField(_("args"), default=list)
    kwargs = models.JSONField(_("kwargs"), default=dict)
    state = models.CharField(_("state"), max_length=50, default=states.PENDING)
    #: When the row becomes due: its eta, or its enqueue time. Claims compare it to now().
    run_at = models.DateTimeField(_("run at"), default=timezone.now)
    eta = models.DateTimeField(_("eta"), null=True, blank=True)
    expires = models.DateTimeField(_("expires"), null=True, blank=True)
    retries = models.IntegerField(_("retries"), default=0)
    max_retries = models.IntegerField(_("max retries"), null=True, blank=True)
    acks_late = models.BooleanField(_("acks late"), default=False)
    redelivered = models.BooleanField(_("redelivered"), default=False)
    #: Options the worker needs (time limits, links, chain, group, headers, ...).
    options = models.JSONField(_("options"), default=dict)
    parent_id = models.CharField(_("parent"), max_length=64, blank=True, default="")
    group_id = models.CharField(_("group"), max_length=64, blank=True, default="")
    result = models.JSONField(_("result"), null=True, blank=True)
    exc_type = models.CharField(_("exception type"), max_length=255, blank=True, default="")
    exc_message = models.TextField(_("exception message"), blank=True, default="")
    traceback = models.TextField(_("traceback"), blank=True, default="")
    worker = models.CharField(_("worker"), max_length=255, blank=True, default="")
    #: Position in its worker's claims (1, 2, 3, ... per worker process). The worker runs
    #: its rows in this order and records the last position started in shared memory: the
    #: start marker recovery reads (see "Guarantees" in the README).
    claim_seq = models.BigIntegerField(_("claim sequence"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    #: When a worker claimed it (state RECEIVED; the column keeps its first name).
    reserved_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    objects = TaskMessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        # Every index gets a new entry on each claim and finish (a state change is never a
        # HOT update), so there are few, and partial where their rows are few.
        indexes = [
            # The claim's WHERE and ORDER BY, per served queue: costs the same beside
            # millions of finished rows and beside any backlog in the other queues.
            models.Index(
                fields=["queue", "-priority", "run_at"],
                name="dt_claim",
                condition=CLAIMABLE.q,
            ),
            # The next due time of a served queue (NEXT_DUE, idle workers), the same way.
            models.Index(fields=["queue", "run_at"], name="dt_due", condition=CLAIMABLE.q),
            # Recovery of a dead worker's rows.
            models.Index(fields=["worker"], name="dt_held", condition=HELD.q),
            # The admin's newest-first list.
            models.Index(fields=["-created_at"], name="dt_created"),
            # The dashboard's recent windows (finished in the last hour, throughput, failures
            # by type) and pruning by age. Only finished rows have a done_at, so a claim
            # writes no entry here; "done_at >= x" implies the predicate on every vendor.
            models.Index(fields=["done_at"], name="dt_done", condition=Q(done_at__isnull=False)),
            # The admin's "failed" filter and the dashboard's recent failures.
            models.Index(
                fields=["-created_at"], name="dt_failed", condition=Q(state=states.FAILURE)
            ),
            # Chains and groups: only their members have entries.
            models.Index(fields=["parent_id"], name="dt_parent", condition=~Q(parent_id="")),
            models.Index(fields=["group_id"], name="dt_group", condition=~Q(group_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.name}[{self.id}] {self.state}"

    @property
    def runtime(self) -> float | None:
        if self.started_at and self.done_at:
            return (self.done_at - self.started_at).total_seconds()
        return None


class TaskAttempt(models.Model):
    """One finished attempt of a task that failed, retried or was retried before."""

    task = models.ForeignKey(TaskMessage, on_delete=models.CASCADE, related_name="attempts")
    number = models.IntegerField(_("attempt"))
    state = models.CharField(_("state"), max_length=50)
    worker = models.CharField(_("worker"), max_length=255, blank=True, default="")
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), default=timezone.now)
    exc_type = models.CharField(_("exception type"), max_length=255, blank=True, default="")
    exc_message = models.TextField(_("exception message"), blank=True, default="")
    traceback = models.TextField(_("traceback"), blank=True, default="")

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["task", "number"]

    def __str__(self) -> str:
        return f"{self.task_id} #{self.number} {self.state}"


class ChordCounter(models.Model):
    """
    One chord waiting for its header: how many members finished, and the callback to send.

    Written before its members, in the same transaction; each member's final outcome counts
    in the transaction that records it (under this row's lock). The member that brings
    ``done`` to ``total`` sends the callback (or writes it FAILURE with ``ChordError``) and
    deletes this row, so a later re-run of a member counts nothing.
    """

    #: The header group's id (every member's ``group_id``).
    group_id = models.CharField(_("group"), max_length=64, primary_key=True)
    total = models.IntegerField(_("members"))
    done = models.IntegerField(_("finished"), default=0)
    #: The members' task ids in header order (the callback's results come in this order).
    members = models.JSONField(_("members"), default=list)
    #: The callback message and its errbacks, built and checked when the chord was sent.
    callback = models.JSONField(_("callback"), default=dict)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("chord")
        verbose_name_plural = _("chords")

    def __str__(self) -> str:
        return f"chord {self.group_id} {self.done}/{self.total}"


class Worker(models.Model):
    """One live worker process (a supervisor or one of its children) and its heartbeat."""

    name = models.CharField(_("name"), max_length=255, primary_key=True)
    hostname = models.CharField(_("hostname"), max_length=255)
    pid = models.IntegerField(_("pid"))
    #: The supervisor this process belongs to ("" for a supervisor itself).
    supervisor = models.CharField(_("supervisor"), max_length=255, blank=True, default="")
    pool = models.CharField(_("pool"), max_length=20, default="prefork")
    concurrency = models.IntegerField(_("concurrency"), default=1)
    queues = models.JSONField(_("queues"), default=list)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("heartbeat"), default=timezone.now)

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        ordering = ["hostname", "name"]

    def __str__(self) -> str:
        return self.name


class Dashboard(TaskMessage):
    """The admin index's "Dashboard" entry (no table: a proxy whose list is the dashboard)."""

    class Meta:
        proxy = True
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")
        default_permissions = ()


class PeriodicTask(models.Model):
    """
    One periodic entry: a task sent on a schedule by whichever worker gets to a tick first.

    ``next_run_at`` is the entry's next tick. A worker sends a tick's task only after moving
    ``next_run_at`` on with a compare-and-set (``WHERE next_run_at = <the tick it read>``) in
    the transaction that inserts the task, so each tick is sent once however many workers
    look. None means "to be computed": a worker sets it to the next tick without sending.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    task = models.CharField(_("task"), max_length=200)
    #: Seconds between runs (an interval entry), or None for a crontab entry.
    interval = models.FloatField(_("every (seconds)"), null=True, blank=True)
    #: A cron line, "minute hour day_of_month month_of_year day_of_week" (crontab entry).
    crontab = models.CharField(_("crontab"), max_length=200, blank=True, default="")
    args = models.JSONField(_("args"), default=list, blank=True)
    kwargs = models.JSONField(_("kwargs"), default=dict, blank=True)
    #: apply_async options: queue, priority, expires, ...
    options = models.JSONField(_("options"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    one_off = models.BooleanField(_("one-off"), default=False)
    start_time = models.DateTimeField(_("start"), null=True, blank=True)
    expires = models.DateTimeField(_("expires"), null=True, blank=True)
    #: Declared in settings or code (synced at worker start) rather than in the admin.
    from_settings = models.BooleanField(_("from settings"), default=False, editable=False)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_task_id = models.CharField(
        _("last task"), max_length=64, blank=True, default="", editable=False
    )
    total_run_count = models.PositiveIntegerField(_("runs"), default=0, editable=False)
    changed_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("periodic task")
        verbose_name_plural = _("periodic tasks")
        ordering = ["name"]
        indexes = [
            # The workers' once-a-second "is anything due?"; disabled entries have no entry.
            models.Index(fields=["next_run_at"], name="dt_periodic_due", condition=Q(enabled=True))
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._when = self._timing()

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # A changed schedule (or a re-enabled entry) starts afresh from the next tick after
        # now: the workers compute it within a second. Missed ticks are never replayed.
        if self._timing() != self._when:
            self.next_run_at = None
        super().save(*args, **kwargs)
        self._when = self._timing()

    def _timing(self) -> tuple:
        return (self.interval, self.crontab, self.enabled, self.start_time)
