"""
Index claimable rows by queue first: a queue's claims read only that queue's due rows.

dt_claimable was on (priority, run_at): a worker serving "mail" beside 500,000 rows waiting
in "bulk" read them all (195 ms per claim). dt_claim is on (queue, priority, run_at), so
a claim walks one queue's due rows in priority order (the PostgreSQL claim is a LATERAL
per served queue); dt_due on (queue, run_at) answers an idle worker's "when is the next
row due". Both are partial (waiting rows only), built CONCURRENTLY on PostgreSQL so
workers keep enqueueing and claiming meanwhile, before the old index is dropped.
MySQL/MariaDB keep their own claim indexes (broker/mysql.py SCHEMA, migration 0007): nothing
changes there.
"""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """AddIndex that builds the index without blocking writes where the database can."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "mysql":
            return None  # its indexes are broker/mysql.py's (migration 0007)
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None


class RemoveIndexConcurrentlyOnPostgreSQL(migrations.RemoveIndex):
    """RemoveIndex that drops the index without blocking writes where the database can."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "mysql":
            return None  # its indexes are broker/mysql.py's (migration 0007)
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(
                self.name
            )
            schema_editor.remove_index(model, index, concurrently=True)
        return None


class Migration(migrations.Migration):
    # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("django_tasks", "0007_mysql_indexes")]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="taskmessage",
            index=models.Index(
                condition=models.Q(("state__in", ("PENDING", "RETRY"))),
                fields=["queue", "-priority", "run_at"],
                name="dt_claim",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="taskmessage",
            index=models.Index(
                condition=models.Q(("state__in", ("PENDING", "RETRY"))),
                fields=["queue", "run_at"],
                name="dt_due",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name="taskmessage", name="dt_claimable"),
    ]
