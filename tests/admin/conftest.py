"""Fixtures of the admin tests: staff users with chosen permissions, admin URLs."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.urls import reverse

CHANGELIST = "admin:django_tasks_taskmessage_changelist"
DASHBOARD = "admin:django_tasks_taskmessage_dashboard"


def change_url(task_id: str) -> str:
    return reverse("admin:django_tasks_taskmessage_change", args=[quote(task_id)])


def act_url(task_id: str, action: str) -> str:
    return reverse("admin:django_tasks_taskmessage_act", args=[quote(task_id), action])


def progress_url(task_id: str) -> str:
    return reverse("admin:django_tasks_taskmessage_progress", args=[quote(task_id)])


@pytest.fixture
def staff_client(client, django_user_model):
    """``staff_client("view_taskmessage", ...)``: a logged-in staff user with only those."""

    def make(*codenames: str):
        user = django_user_model.objects.create_user("staff", password="-", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="django_tasks", codename__in=codenames
            )
        )
        client.force_login(user)
        return client

    return make


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
