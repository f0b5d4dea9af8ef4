"""System checks: every problem in the settings at once (``manage.py check``)."""

from __future__ import annotations

from django.core.checks import Error, Info, Tags, Warning, register

from . import backends, conf, routing  # noqa: F401  (backends registers the TASKS check for Django < 6)

_LEVELS = {"E": Error, "W": Warning, "I": Info}


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    found = [Error(p.message, id=p.id) for p in conf.problems()]
    if not found:
        found += [Error(m, id="django_tasks.E009") for m in routing.problems()]
    found += [_LEVELS[p.id.split(".")[1][0]](p.message, id=p.id) for p in conf.notes()]
    return found
