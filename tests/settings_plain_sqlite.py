"""Test settings: SQLite with Django's default (deferred) transactions, as startproject has."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"].pop("transaction_mode", None)  # noqa: F405
