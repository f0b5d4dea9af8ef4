"""
MySQL / MariaDB only: indexes in place of the partial ones, which MySQL does not have.

Django creates the model's partial indexes there without their condition, over every row:
a claim would walk the whole history. This replaces dt_claimable and dt_held with indexes on
virtual columns that are NULL outside their predicate, and dt_failed with (state,
created_at); the statements are django_tasks.broker.mysql.SCHEMA. Other databases: nothing.
"""

from django.db import migrations


def _run(statements_name):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "mysql":
            return
        from django_tasks.broker import mysql

        for sql in getattr(mysql, statements_name):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back: Django refuses DDL inside a transaction there.
    atomic = False

    dependencies = [("django_tasks", "0006_dashboard")]

    operations = [migrations.RunPython(_run("SCHEMA"), _run("UNSCHEMA"), elidable=False)]
