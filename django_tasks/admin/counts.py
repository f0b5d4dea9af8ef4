"""Counting the task table without reading it all: the database's estimate, when trusted."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from ..broker import get_broker

#: Below this many rows the console counts exactly: COUNT(*) is cheap and exact is nicer.
ESTIMATE_ABOVE = 100_000


def estimated_count(qs: QuerySet) -> int | None:
    """
    The database's estimate of the rows of unfiltered `qs`, or None: count them instead.

    COUNT(*) reads every row, seconds over millions of finished tasks. Statistics lag behind
    a mass delete, so a large estimate is trusted only once row number ESTIMATE_ABOVE is
    seen to exist (a bounded read); a filtered queryset is always counted.
    """
    if qs.query.has_filters():
        return None
    estimate = get_broker(qs.db).estimated_count()
    if estimate is None or estimate < ESTIMATE_ABOVE:
        return None
    # In key order: the read walks the primary key's index, never the table's rows.
    if not qs.order_by("pk").values_list("pk", flat=True)[ESTIMATE_ABOVE : ESTIMATE_ABOVE + 1]:
        return None
    return estimate


class EstimatedCountPaginator(Paginator):
    """
    Count the unfiltered task list by the database's estimate (see ``estimated_count``).

    A filtered or searched list still counts exactly: it is smaller, and its count is what
    the user asked for.
    """

    #: Is ``count`` the database's estimate (the list says so)?
    estimated = False

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = estimated_count(self.object_list)
            if estimate is not None:
                self.estimated = True
                return estimate
        return super().count
