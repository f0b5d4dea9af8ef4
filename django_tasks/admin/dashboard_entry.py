"""The dashboard's entry on the admin index: ``/admin/django_tasks/dashboard/``."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from ..models import Dashboard, TaskMessage


@admin.register(Dashboard)
class DashboardEntryAdmin(admin.ModelAdmin):
    """Lists "Dashboard" under Tasks on the index; its page is the task dashboard."""

    def _task_admin(self) -> admin.ModelAdmin:
        return self.admin_site.get_model_admin(TaskMessage)

    def has_module_permission(self, request):
        return self._task_admin().has_view_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._task_admin().has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect(reverse(f"{self.admin_site.name}:django_tasks_taskmessage_dashboard"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect(reverse(f"{self.admin_site.name}:django_tasks_taskmessage_dashboard"))
