"""
Settings of a worker (or a "view" process) behind PgBouncer in transaction pooling mode.

``default`` goes through PgBouncer (PGBOUNCER_DATABASE_URL); ``direct`` is PostgreSQL
itself (DATABASE_URL), where the supervisor LISTENs. Prepared statements are off.
"""

import os

import environ

from tests.settings import *  # noqa: F403

DATABASES = {  # noqa: F405
    "default": environ.Env.db_url_config(os.environ["PGBOUNCER_DATABASE_URL"]),
    "direct": environ.Env.db_url_config(os.environ["DATABASE_URL"]),
}
# psycopg's server-side prepares on (Django turns them off by default): the broker's
# statements would be prepared, which PgBouncer 1.18 in transaction pooling cannot carry,
# but for PREPARED_STATEMENTS = False below.
DATABASES["default"]["OPTIONS"] = {"prepare_threshold": 5}
DJANGO_TASKS = {  # noqa: F405
    **DJANGO_TASKS,  # noqa: F405
    "PREPARED_STATEMENTS": False,
    "LISTEN_DATABASE": "direct",
}
