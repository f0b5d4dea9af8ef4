"""
Drop the varchar_pattern_ops index Django adds beside a CharField primary key on PostgreSQL.

It serves LIKE 'prefix%' on task ids, which nothing runs (the admin looks ids up exactly),
and every claim and finish writes an entry into it: one index fewer is one write fewer
per state change.
"""

from django.db import migrations

FIND = """
    SELECT indexname FROM pg_indexes
     WHERE tablename = 'django_tasks_taskmessage' AND indexname LIKE '%%_like'
       AND indexdef LIKE '%%(id varchar_pattern_ops)%%'"""


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND)
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("django_tasks", "0002_claim_seq_and_lean_indexes")]

    operations = [migrations.RunPython(drop_like_index, migrations.RunPython.noop)]
