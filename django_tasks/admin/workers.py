"""Live worker processes, as their heartbeats say: read-only (workers write these rows)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import DurationField, ExpressionWrapper, F
from django.db.models.functions import Now
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import conf
from ..models import Worker
from .display import age, task_database, timestamp_column


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """Live worker processes, as their heartbeats say; read-only (workers write these rows)."""

    list_display = (
        "name",
        "hostname",
        "pid",
        "supervisor",
        "pool",
        "concurrency",
        "queues_display",
        "started",
        "heartbeat",
        "heartbeat_age",
    )
    list_filter = ("hostname", "pool")
    search_fields = ("name", "hostname")

    class Media:
        css = {"all": ("django_tasks/admin.css",)}

    def get_queryset(self, request):
        # The heartbeat's age by the database's clock, the one heartbeats are written with.
        return (
            super()
            .get_queryset(request)
            .using(task_database())
            .annotate(
                age=ExpressionWrapper(Now() - F("heartbeat_at"), output_field=DurationField())
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    started = timestamp_column("started_at", _("started"), short=True)
    heartbeat = timestamp_column("heartbeat_at", _("heartbeat"), short=True)

    @admin.display(description=_("queues"))
    def queues_display(self, obj):
        return ", ".join(obj.queues or ())

    @admin.display(description=_("heartbeat age"), ordering="heartbeat_at")
    def heartbeat_age(self, obj):
        seconds = obj.age.total_seconds() if obj.age is not None else None
        text = age(seconds)
        if seconds is not None and seconds > conf.get("HEARTBEAT_TIMEOUT"):
            return format_html('<span class="dt-stale">{}</span>', text)
        return text
