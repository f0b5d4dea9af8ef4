"""Periodic entries: listed with their schedule in words and next runs; enable, disable, run."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import PeriodicTask
from ..schedules import crontab
from ..worker.beat import entry_schedule, run_now
from .display import task_database, timestamp, timestamp_column


class PeriodicTaskForm(forms.ModelForm):
    """Exactly one of interval and crontab; a crontab line that parses."""

    class Meta:
        model = PeriodicTask
        fields = (
            "name",
            "task",
            "interval",
            "crontab",
            "args",
            "kwargs",
            "options",
            "enabled",
            "one_off",
            "start_time",
            "expires",
        )

    def clean(self):
        data = super().clean()
        interval, cron = data.get("interval"), (data.get("crontab") or "").strip()
        if (interval is None) == (not cron):
            raise forms.ValidationError(
                _("Give either 'every (seconds)' or a crontab line, not both or neither.")
            )
        if interval is not None and interval <= 0:
            self.add_error("interval", _("Must be more than 0 seconds."))
        if cron:
            try:
                crontab.from_string(cron)
            except (TypeError, ValueError) as exc:
                self.add_error("crontab", str(exc))
            data["crontab"] = cron
        return data


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    """Entries from settings and the admin; an edit takes effect within a second or two."""

    form = PeriodicTaskForm
    list_display = (
        "name",
        "task",
        "schedule_words",
        "enabled",
        "next_runs",
        "last_run",
        "total_run_count",
        "from_settings",
    )
    list_filter = ("enabled", "from_settings")
    search_fields = ("name", "task")
    readonly_fields = (
        "from_settings",
        "next_runs",
        "last_run",
        "total_run_count",
        "changed_at",
    )
    actions = ["enable", "disable", "run_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).using(task_database())

    @admin.display(description=_("schedule"))
    def schedule_words(self, obj):
        try:
            return entry_schedule(obj).human()
        except (TypeError, ValueError):
            return "-"

    @admin.display(description=_("next runs"))
    def next_runs(self, obj):
        if not obj.pk or not obj.enabled:
            return "-"
        try:
            runs = entry_schedule(obj).next_runs(obj.next_run_at or timezone.now(), 2)
        except (TypeError, ValueError):
            return "-"
        runs = [obj.next_run_at, *runs] if obj.next_run_at else runs
        return format_html_join(", ", "{}", ((timestamp(r),) for r in runs[:3]))

    @admin.display(description=_("last run"), ordering="last_run_at")
    def last_run(self, obj):
        if not obj.last_task_id:
            return "-"
        url = reverse("admin:django_tasks_taskmessage_change", args=[obj.last_task_id])
        return format_html('<a href="{}">{}</a>', url, timestamp(obj.last_run_at))

    changed = timestamp_column("changed_at", _("changed"))

    @admin.action(description=_("Enable selected periodic tasks"), permissions=["change"])
    def enable(self, request, queryset):
        # From the next tick after now: the ticks missed while disabled are not replayed.
        n = queryset.filter(enabled=False).update(enabled=True, next_run_at=None)
        self.message_user(
            request,
            ngettext("%d periodic task enabled.", "%d periodic tasks enabled.", n) % n,
        )

    @admin.action(description=_("Disable selected periodic tasks"), permissions=["change"])
    def disable(self, request, queryset):
        n = queryset.filter(enabled=True).update(enabled=False, next_run_at=None)
        self.message_user(
            request,
            ngettext("%d periodic task disabled.", "%d periodic tasks disabled.", n) % n,
        )

    @admin.action(description=_("Run selected periodic tasks now"), permissions=["change"])
    def run_now(self, request, queryset):
        n = 0
        for entry in queryset:
            try:
                run_now(entry, using=task_database())
                n += 1
            except (TypeError, ValueError) as exc:
                self.message_user(request, f"{entry.name}: {exc}", level=messages.ERROR)
        self.message_user(
            request, ngettext("%d periodic task sent.", "%d periodic tasks sent.", n) % n
        )
