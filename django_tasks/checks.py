"""System checks: every problem in the settings at once (``manage.py check``)."""

from __future__ import annotations

import sys

from django.core.checks import Error, Info, Tags, Warning, register
from django.db import connections

from . import backends, conf, routing  # noqa: F401  (backends registers the TASKS check for Django < 6)
from .broker import migrations_problem

_LEVELS = {"E": Error, "W": Warning, "I": Info}


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    found = [Error(p.message, id=p.id) for p in conf.problems()]
    if not found:
        found += [Error(m, id="django_tasks.E009") for m in routing.problems()]
    found += [_LEVELS[p.id.split(".")[1][0]](p.message, id=p.id) for p in conf.notes()]
    return found


#: Commands that make or apply migrations: unapplied migrations are what they are for.
_MIGRATION_COMMANDS = {"migrate", "makemigrations", "showmigrations", "sqlmigrate"}


@register(Tags.compatibility)
def check_migrations(app_configs=None, databases=None, **kwargs):
    """Unapplied django_tasks migrations are an error (enqueueing would fail: no table)."""
    if conf.problems() or sys.argv[1:2] and sys.argv[1] in _MIGRATION_COMMANDS:
        return []
    using = conf.get("DATABASE")
    if databases is not None and using not in databases:
        return []
    problem = migrations_problem(using)
    return [Error(problem, id="django_tasks.E020")] if problem else []


@register(Tags.compatibility)
def check_sqlite_transaction_mode(app_configs=None, **kwargs):
    """SQLite beside a worker needs ``transaction_mode="IMMEDIATE"`` (see the README)."""
    found = []
    for alias in connections:
        settings = connections.settings[alias]
        if settings.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        if str(settings.get("OPTIONS", {}).get("transaction_mode", "")).upper() == "IMMEDIATE":
            continue
        found.append(
            Warning(
                f"DATABASES[{alias!r}] is SQLite without OPTIONS['transaction_mode'] = "
                "'IMMEDIATE': while a worker writes, web requests that read and then write "
                "(logins, forms under ATOMIC_REQUESTS) fail with 'database is locked'.",
                hint="Set OPTIONS = {'transaction_mode': 'IMMEDIATE', 'timeout': 30, "
                "'init_command': 'PRAGMA journal_mode=WAL;'} (the README's SQLite section).",
                id="django_tasks.W020",
            )
        )
    return found
