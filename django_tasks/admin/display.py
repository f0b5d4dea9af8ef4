"""What the console shows: state badges, timestamps, JSON, progress, ages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from .. import conf, states

#: The standard states in the order a task passes through them (the filter's and the
#: dashboard's order); custom ``update_state`` states (PROGRESS...) come after.
STATE_ORDER = (
    states.PENDING,
    states.RETRY,
    states.RECEIVED,
    states.STARTED,
    states.SUCCESS,
    states.FAILURE,
    states.REVOKED,
    states.REJECTED,
    states.IGNORED,
)
TIMESTAMP_FORMAT = "Y-m-d H:i:s"


def task_database() -> str:
    """The database alias the task rows live in (DJANGO_TASKS["DATABASE"])."""
    return conf.get("DATABASE")


def badge(state: str) -> str:
    """The state as a coloured badge (custom states share one colour)."""
    kind = state.lower() if state in states.ALL_STATES else "custom"
    return format_html('<span class="dt-badge dt-{}">{}</span>', kind, state)


def timestamp(value: datetime | None) -> str:
    """To the second, in the current time zone: tasks happen faster than the admin's minutes."""
    return "-" if value is None else date_format(localtime(value), TIMESTAMP_FORMAT)


def short_timestamp(value: datetime | None) -> str:
    """For the list: the time alone when it is today, the full timestamp on hover."""
    if value is None:
        return "-"
    local = localtime(value)
    short = "H:i:s" if local.date() == localtime().date() else "Y-m-d H:i"
    return format_html(
        '<span title="{}">{}</span>',
        date_format(local, TIMESTAMP_FORMAT),
        date_format(local, short),
    )


def timestamp_column(field: str, description: str, short: bool = False):
    @admin.display(description=description, ordering=field)
    def show(self, obj):
        return (short_timestamp if short else timestamp)(getattr(obj, field))

    return show


def pretty_json(value: Any, live: bool = False) -> str:
    """`value` as indented JSON; `live`: the task page's script updates it as it polls."""
    return format_html(
        '<pre class="dt-json{}">{}</pre>',
        " dt-live-meta" if live else "",
        json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder),
    )


def progress_of(state: str, meta: Any) -> dict[str, Any] | None:
    """``{"current", "total", "percent"}`` when a custom state's meta says how far it is."""
    if state in states.ALL_STATES or not isinstance(meta, dict):
        return None
    current, total = meta.get("current"), meta.get("total")
    if not isinstance(current, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    percent = max(0.0, min(100.0, 100.0 * current / total))
    return {"current": current, "total": total, "percent": round(percent, 1)}


def age(seconds: float | None) -> str:
    """A short age for tables: 4.2 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return _("%(n).1f s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)d min") % {"n": seconds // 60}
    if seconds < 86400:
        return _("%(n).1f h") % {"n": seconds / 3600}
    return _("%(n).1f d") % {"n": seconds / 86400}
