"""System checks: every problem in ``DJANGO_TASKS`` at once (``manage.py check``)."""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from . import backends, conf  # noqa: F401  (backends registers the TASKS check for Django < 6)


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    return [Error(p.message, id=p.id) for p in conf.problems()]
