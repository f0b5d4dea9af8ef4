"""
The task console in the Django admin: the task list and page with their actions (each one
broker verb), the dashboard, and the live workers.
"""

from . import dashboard_entry  # noqa: F401  (the index's Dashboard entry)
from .counts import EstimatedCountPaginator, estimated_count
from .display import age, badge, pretty_json, progress_of, timestamp
from .periodic import PeriodicTaskAdmin
from .tasks import TaskMessageAdmin
from .workers import WorkerAdmin

__all__ = [
    "EstimatedCountPaginator",
    "PeriodicTaskAdmin",
    "TaskMessageAdmin",
    "WorkerAdmin",
    "age",
    "estimated_count",
    "badge",
    "pretty_json",
    "progress_of",
    "timestamp",
]
