"""
The task list and the task page: filters, the estimated count, read-only fields, actions.

The admin reads rows and never writes them: there is no add form, every field is read-only,
and every action calls one broker verb (requeue, revoke, run_now, delete_finished), so what
the admin does is what the queue's own code does, under the same concurrency rules.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Left, Length, Right
from django.http import (
    Http404,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import conf, states
from ..app import app
from ..broker import Broker, get_broker
from ..broker.predicates import CLAIMABLE, CLAIMED, FINISHED
from ..models import TaskMessage, Worker
from .counts import EstimatedCountPaginator
from .dashboard import Dashboard
from .display import (
    STATE_ORDER,
    badge,
    pretty_json,
    progress_of,
    task_database,
    timestamp_column,
)

logger = logging.getLogger(__name__)

#: The state filter's value for "any custom state".
CUSTOM = "_custom"
#: Ids per broker call in a bulk action (SQLite allows ~32,000 parameters per statement).
ACTION_BATCH = 1000


def _category(state: str) -> str:
    """Why a row may be passed over: finished, waiting, claimed or running."""
    if state in FINISHED:
        return "finished"
    if state in CLAIMABLE:
        return "waiting"
    if state in CLAIMED:
        return "claimed"
    return "running"


#: Why an action passed over a row, by the row's category.
SKIP_REASONS = {
    "finished": _("already finished"),
    "waiting": _("still waiting"),
    "claimed": _("claimed by a worker"),
    "running": _("still running"),
}


def _batches(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), ACTION_BATCH):
        yield list(ids[start : start + ACTION_BATCH])


#: The states each action's verb acts on, as the broker publishes them: the list reports
#: the other rows as skipped, and the task page offers the action only in these states.
ACTS_ON = {
    "requeue": Broker.REQUEUE_FROM,
    "revoke": Broker.REVOKE_FROM,
    "terminate": Broker.TERMINATE_FROM,
    "run_now": Broker.RUN_NOW_FROM,
    "delete_finished": Broker.DELETE_FROM,
}


def offers(action: str, state: str) -> bool:
    """Does the task page offer `action` on a row in `state`?"""
    if action == "terminate" and state in CLAIMABLE:
        return False  # nothing runs yet: terminating a waiting task is revoking it
    return state in ACTS_ON[action]


# -- the list's filters: fixed or registry choices, never a scan for distinct values -----------


class StateFilter(admin.SimpleListFilter):
    """Filter by state; the choices are fixed, so the list never scans for distinct states."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        choices = [(s, s) for s in STATE_ORDER]
        value = self.value()
        if value and value != CUSTOM and value not in states.ALL_STATES:
            choices.append((value, value))
        choices.append((CUSTOM, _("custom (PROGRESS…)")))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == CUSTOM:
            return queryset.exclude(state__in=states.ALL_STATES)
        if value:
            return queryset.filter(state=value)
        return queryset


class QueueFilter(admin.SimpleListFilter):
    """Filter by queue: the queues tasks declare and workers consume, not a table scan."""

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        names = {conf.get("DEFAULT_QUEUE")}
        names.update(task.options.queue for task in app.tasks.values())
        for queues in Worker.objects.using(task_database()).values_list("queues", flat=True):
            names.update(q for q in queues or () if isinstance(q, str))
        if self.value():
            names.add(self.value())
        return [(q, q) for q in sorted(names)]

    def queryset(self, request, queryset):
        return queryset.filter(queue=self.value()) if self.value() else queryset


class NameFilter(admin.SimpleListFilter):
    """Filter by task name, from the registry of this process (plus the chosen name)."""

    title = _("task")
    parameter_name = "name"

    def lookups(self, request, model_admin):
        names = set(app.tasks)
        if self.value():
            names.add(self.value())
        return [(n, n) for n in sorted(names)]

    def queryset(self, request, queryset):
        return queryset.filter(name=self.value()) if self.value() else queryset


# -- the task admin ------------------------------------------------------------------------------


#: The task page's attempts table: the newest this many, and of each message and
#: traceback this many characters (a traceback's last ones).
ATTEMPTS_SHOWN = 50
TEXT_SHOWN = 10_000

#: The fields the task list's columns read (list_display's methods included).
LIST_COLUMNS = (
    "id",
    "name",
    "queue",
    "state",
    "priority",
    "retries",
    "max_retries",
    "eta",
    "created_at",
    "started_at",
    "done_at",
    "worker",
)


class IndexedOrderChangeList(ChangeList):
    """A task list whose ``?o=`` sorts only by the indexed columns the headers offer."""

    def get_ordering_field(self, field_name):
        # Django's ChangeList honours ?o= for every column, sortable_by only hides headers:
        # ?o=2 (queue) would sort the whole table. An unoffered column is ignored.
        if field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_queryset(self, request, exclude_parameters=None):
        # Only the columns the list shows: arguments, results and tracebacks can be
        # megabytes per row, and a page of 50 would load them all for nothing.
        return super().get_queryset(request, exclude_parameters).only(*LIST_COLUMNS)


@admin.register(TaskMessage)
class TaskMessageAdmin(admin.ModelAdmin):
    """The task list, the task page with its live bar and buttons, and the dashboard."""

    list_display = (
        "short_id",
        "name",
        "queue",
        "state_badge",
        "priority",
        "retries_display",
        "eta_short",
        "created_short",
        "started_short",
        "runtime_display",
        "worker",
    )
    list_filter = (StateFilter, QueueFilter, NameFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "args", "kwargs")
    search_help_text = _("A task id, or text in the task's name or arguments.")
    ordering = ("-created_at",)
    # Sorting by a column without an index would sort every row: only indexed ones.
    sortable_by = ("short_id", "created_short")
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    show_facets = admin.ShowFacets.NEVER  # facet counts would COUNT every filter choice
    actions = ("requeue", "revoke", "terminate", "run_now", "delete_finished")
    readonly_fields = (
        "id",
        "name",
        "state_badge",
        "queue",
        "priority",
        "retries_display",
        "worker",
        "created",
        "eta_at",
        "due",
        "expires_at",
        "claimed",
        "started",
        "done",
        "runtime_display",
        "args_json",
        "kwargs_json",
        "result_json",
        "exception",
        "traceback_display",
        "parent_link",
        "children_links",
        "group_link",
        "options_json",
        "acks_late",
        "redelivered",
    )
    # The state is not a field: the bar above the fields shows it, live.
    fieldsets = (
        (None, {"fields": ("id", ("name", "queue"), ("priority", "retries_display", "worker"))}),
        (_("Call"), {"fields": (("args_json", "kwargs_json"),)}),
        (_("Outcome"), {"fields": ("result_json", "exception", "traceback_display")}),
        (
            _("Timing"),
            {
                "fields": (
                    ("created", "due", "eta_at", "expires_at"),
                    ("claimed", "started", "done", "runtime_display"),
                )
            },
        ),
        (_("Chain and group"), {"fields": (("parent_link", "group_link"), "children_links")}),
        (
            _("Options"),
            {"classes": ("collapse",), "fields": ("options_json", ("acks_late", "redelivered"))},
        ),
    )

    class Media:
        css = {"all": ("django_tasks/admin.css",)}
        js = ("django_tasks/admin.js",)

    # -- reading -------------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).using(task_database())

    def lookup_allowed(self, lookup, value, request=None):
        # The dashboard links to failures of one type, a group's tasks, a worker's tasks.
        if lookup in ("exc_type", "group_id", "parent_id", "worker"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and queryset.filter(pk=term).exists():
            # A task id: the primary key's index, not a scan of names and arguments.
            return queryset.filter(pk=term), False
        return super().get_search_results(request, queryset, search_term)

    # -- no writes but through the broker ------------------------------------------------------

    def has_add_permission(self, request):
        return False

    def get_actions(self, request, action_location=None):
        # Stock "delete selected" deletes with the ORM; delete_finished goes through the
        # broker. (action_location: Django 6.1's signature; 5.2 calls without it.)
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request, extra_context=None):
        # A NUL byte cannot be a text value on PostgreSQL (the driver raises: a 500); no
        # task has one in its state, queue, name or id, so the request itself is bad.
        if any("\x00" in v for values in request.GET.lists() for v in values[1]):
            return HttpResponseBadRequest("A filter or search value contains a NUL byte.")
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None:
            # While a listed task waits or runs the list reloads itself (admin.js), as the
            # task page does; a finished page stays still.
            response.context_data["dt_live"] = any(
                t.state not in states.FINISHED_STATES for t in cl.result_list
            )
        return response

    def get_changelist(self, request, **kwargs):
        return IndexedOrderChangeList

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Permission before lookup: a staff user without it gets the same 403 for an id
        # that exists and one that does not, so ids cannot be probed.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            # Every field is read-only; changes go through the action buttons.
            return HttpResponseNotAllowed(["GET"])
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            # Every field is read-only: the stock "Change task" would promise a form.
            "title": _("View task"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        # Deleting a task that is waiting or running would lose it under a worker's feet;
        # the "Delete" action deletes finished tasks only, through the broker.
        raise PermissionDenied

    # -- list columns and page fields ----------------------------------------------------------

    created_short = timestamp_column("created_at", _("created"), short=True)
    started_short = timestamp_column("started_at", _("started"), short=True)
    eta_short = timestamp_column("eta", _("eta"), short=True)
    created = timestamp_column("created_at", _("created"))
    due = timestamp_column("run_at", _("run at"))
    eta_at = timestamp_column("eta", _("eta"))
    expires_at = timestamp_column("expires", _("expires"))
    claimed = timestamp_column("reserved_at", _("claimed"))
    started = timestamp_column("started_at", _("started"))
    done = timestamp_column("done_at", _("done"))

    @admin.display(description=_("task id"), ordering="id")
    def short_id(self, obj):
        # The tail: time-ordered ids (uuid7) share their head within the same minute, and a
        # random id differs everywhere.
        short = obj.id if len(obj.id) <= 13 else f"…{obj.id[-8:]}"
        return format_html('<span class="dt-id" title="{}">{}</span>', obj.id, short)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return badge(obj.state)

    @admin.display(description=_("retries"))
    def retries_display(self, obj):
        limit = "∞" if obj.max_retries is None else obj.max_retries
        return f"{obj.retries}/{limit}"

    @admin.display(description=_("runtime"))
    def runtime_display(self, obj):
        runtime = obj.runtime
        return "-" if runtime is None else _("%(n).3f s") % {"n": runtime}

    @admin.display(description=_("args"))
    def args_json(self, obj):
        return pretty_json(obj.args)

    @admin.display(description=_("kwargs"))
    def kwargs_json(self, obj):
        return pretty_json(obj.kwargs)

    @admin.display(description=_("result"))
    def result_json(self, obj):
        if obj.result is None and obj.state != states.SUCCESS:
            return "-"
        if obj.state in states.EXCEPTION_STATES and obj.exc_type:
            return "-"  # the stored exception: shown, readably, under "exception"
        if obj.state not in states.ALL_STATES:
            # A running task's meta: the page's script keeps it current.
            return pretty_json(obj.result, live=True)
        return pretty_json(obj.result)

    @admin.display(description=_("exception"))
    def exception(self, obj):
        if not obj.exc_type:
            return "-"
        return format_html('<code class="dt-exc">{}</code>: {}', obj.exc_type, obj.exc_message)

    @admin.display(description=_("traceback"))
    def traceback_display(self, obj):
        if not obj.traceback:
            return "-"
        return format_html('<pre class="dt-traceback">{}</pre>', obj.traceback)

    @admin.display(description=_("options"))
    def options_json(self, obj):
        return pretty_json(obj.options)

    @admin.display(description=_("parent"))
    def parent_link(self, obj):
        if not obj.parent_id:
            return "-"
        return format_html('<a href="{}">{}</a>', self._change_url(obj.parent_id), obj.parent_id)

    @admin.display(description=_("children"))
    def children_links(self, obj):
        children = (
            TaskMessage.objects.using(task_database())
            .filter(parent_id=obj.id)
            .order_by("created_at")
            .values_list("id", "name", "state")[:50]
        )
        if not children:
            return "-"
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} {}</div>',
            ((self._change_url(i), i, name, badge(state)) for i, name, state in children),
        )

    @admin.display(description=_("group"))
    def group_link(self, obj):
        if not obj.group_id:
            return "-"
        return format_html(
            '<a href="{}?{}">{}</a>',
            self._changelist_url(),
            urlencode({"group_id": obj.group_id}),
            obj.group_id,
        )

    def _change_url(self, task_id: str) -> str:
        return reverse(
            "admin:django_tasks_taskmessage_change",
            args=[quote(task_id)],
            current_app=self.admin_site.name,
        )

    def _changelist_url(self) -> str:
        return reverse(
            "admin:django_tasks_taskmessage_changelist", current_app=self.admin_site.name
        )

    # -- the task page's extras: live progress, buttons, attempts ------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                task_live=obj.state not in states.FINISHED_STATES,
                task_badge=badge(obj.state),
                task_progress=progress_of(obj.state, obj.result),
                task_progress_url=reverse(
                    "admin:django_tasks_taskmessage_progress",
                    args=[quote(obj.pk)],
                    current_app=self.admin_site.name,
                ),
                task_buttons=self._buttons(request, obj),
                **self._attempts(obj),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _attempts(self, obj) -> dict[str, Any]:
        """
        The newest ATTEMPTS_SHOWN attempts, oldest first, with as much of their texts as
        the page shows: a message's start, a traceback's end (where it raised), each
        with its length so the page can say what it left out.
        """
        rows = list(
            obj.attempts.using(task_database())
            .defer("exc_message", "traceback")
            .annotate(
                message=Left("exc_message", TEXT_SHOWN),
                message_length=Length("exc_message"),
                traceback_tail=Right("traceback", TEXT_SHOWN),
                traceback_length=Length("traceback"),
            )
            .order_by("-number")[:ATTEMPTS_SHOWN]
        )
        rows.reverse()
        earlier = 0
        if len(rows) == ATTEMPTS_SHOWN:
            earlier = obj.attempts.using(task_database()).count() - ATTEMPTS_SHOWN
        return {"task_attempts": rows, "task_attempts_earlier": earlier, "text_shown": TEXT_SHOWN}

    def _buttons(self, request, obj) -> list[dict[str, Any]]:
        """The actions the user may take on this task in its state, as buttons."""
        buttons = []
        for name in self.actions:
            func = getattr(self, name)
            if offers(name, obj.state) and self._may(request, func):
                buttons.append(
                    {
                        "name": name,
                        "label": func.button_label,
                        "url": reverse(
                            "admin:django_tasks_taskmessage_act",
                            args=[quote(obj.pk), name],
                            current_app=self.admin_site.name,
                        ),
                        "danger": name in ("terminate", "delete_finished"),
                    }
                )
        return buttons

    def _may(self, request, func) -> bool:
        return any(getattr(self, f"has_{p}_permission")(request) for p in func.allowed_permissions)

    # -- actions: each one broker verb, permission-checked, reporting what it did --------------

    @admin.action(
        description=_("Requeue selected tasks (a new attempt, same id)"), permissions=["change"]
    )
    def requeue(self, request, queryset):
        self._act(
            request,
            queryset,
            "requeue",
            get_broker(task_database()).requeue,
            lambda n: ngettext("%(count)d task requeued", "%(count)d tasks requeued", n),
        )

    @admin.action(description=_("Revoke selected waiting tasks"), permissions=["change"])
    def revoke(self, request, queryset):
        self._act(
            request,
            queryset,
            "revoke",
            get_broker(task_database()).revoke,
            lambda n: ngettext("%(count)d task revoked", "%(count)d tasks revoked", n),
            reasons={"running": _("still running (terminate it instead)")},
        )

    @admin.action(
        description=_("Terminate selected tasks (revoke, and kill running ones)"),
        permissions=["change"],
    )
    def terminate(self, request, queryset):
        broker = get_broker(task_database())
        self._act(
            request,
            queryset,
            "terminate",
            lambda ids: broker.revoke(ids, terminate=True),
            lambda n: ngettext("%(count)d task terminated", "%(count)d tasks terminated", n),
        )

    @admin.action(
        description=_("Run selected waiting tasks now (clear their eta)"), permissions=["change"]
    )
    def run_now(self, request, queryset):
        self._act(
            request,
            queryset,
            "run_now",
            get_broker(task_database()).run_now,
            lambda n: ngettext("%(count)d task due now", "%(count)d tasks due now", n),
        )

    @admin.action(description=_("Delete selected finished tasks"), permissions=["delete"])
    def delete_finished(self, request, queryset):
        self._act(
            request,
            queryset,
            "delete_finished",
            get_broker(task_database()).delete_finished,
            lambda n: ngettext("%(count)d task deleted", "%(count)d tasks deleted", n),
        )

    requeue.button_label = _("Requeue")
    revoke.button_label = _("Revoke")
    terminate.button_label = _("Terminate")
    run_now.button_label = _("Run now")
    delete_finished.button_label = _("Delete")

    def _act(
        self,
        request,
        queryset,
        action: str,
        verb: Callable[[list[str]], int],
        done: Callable[[int], str],
        reasons: dict[str, str] | None = None,
    ) -> int:
        """
        Call `verb` on the selected ids and say what it did and what it passed over, and why.

        The reasons come from the states read just before: a row that changed in between is
        counted by what the verb did, and its reason may be stale.
        """
        rows = list(queryset.order_by().values_list("id", "state"))
        ids = [row[0] for row in rows]
        changed = sum(verb(batch) for batch in _batches(ids))
        skipped = len(ids) - changed
        text = done(changed) % {"count": changed}
        if skipped > 0:
            why = {**SKIP_REASONS, **(reasons or {})}
            counts = Counter(_category(state) for _i, state in rows if state not in ACTS_ON[action])
            if len(counts) == 1:
                because = str(why[next(iter(counts))])
            else:
                because = ", ".join(f"{n} {why[c]}" for c, n in counts.most_common())
            text = ngettext(
                "%(done)s, %(count)d skipped: %(reasons)s.",
                "%(done)s, %(count)d skipped: %(reasons)s.",
                skipped,
            ) % {"done": text, "count": skipped, "reasons": because or "-"}
            level = messages.WARNING
        else:
            text = f"{text}."
            level = messages.SUCCESS if changed else messages.INFO
        self.message_user(request, text, level)
        logger.info(
            "admin action=%s user=%s selected=%d changed=%d",
            action,
            request.user.get_username(),
            len(ids),
            changed,
        )
        return changed

    def task_action_view(self, request, object_id, action):
        """POST: run one action on one task (the buttons on the task page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in self.actions or not self._may(request, getattr(self, action)):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        getattr(self, action)(request, self.get_queryset(request).filter(pk=obj.pk))
        if self.get_queryset(request).filter(pk=obj.pk).exists():
            return HttpResponseRedirect(self._change_url(obj.pk))
        return HttpResponseRedirect(self._changelist_url())

    def progress_view(self, request, object_id):
        """GET: the task's state and progress as JSON (the task page polls it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No task {unquote(object_id)!r}.")
        return JsonResponse(
            {
                "id": obj.pk,
                "state": obj.state,
                "badge": badge(obj.state),
                "ready": obj.state in states.FINISHED_STATES,
                "progress": progress_of(obj.state, obj.result),
                "meta": obj.result if obj.state not in states.ALL_STATES else None,
            }
        )

    # -- the dashboard ---------------------------------------------------------------------------

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Task dashboard"),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "changelist_url": self._changelist_url(),
            **Dashboard(task_database(), self._changelist_url(), self._change_url).context(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/django_tasks/dashboard.html", context)

    def get_urls(self):
        view = self.admin_site.admin_view
        # Before the stock patterns: their "<path:object_id>/" would swallow these.
        return [
            path(
                "dashboard/", view(self.dashboard_view), name="django_tasks_taskmessage_dashboard"
            ),
            path(
                "<path:object_id>/progress/",
                view(self.progress_view),
                name="django_tasks_taskmessage_progress",
            ),
            path(
                "<path:object_id>/act/<slug:action>/",
                view(self.task_action_view),
                name="django_tasks_taskmessage_act",
            ),
            *super().get_urls(),
        ]
