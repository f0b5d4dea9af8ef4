"""
Index finished rows by done_at: the dashboard's recent windows and pruning read only them.

Migration 0002 dropped the plain done_at index (a claim wrote an entry into it for every
row); without one, "finished in the last hour", the throughput bars and pruning read the
whole history. This one is partial: only rows with a done_at (finished ones) have entries.
On PostgreSQL it is built CONCURRENTLY, so workers keep enqueueing and claiming meanwhile.
"""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """AddIndex that builds the index without blocking writes where the database can."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("django_tasks", "0003_drop_id_like_index")]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="taskmessage",
            index=models.Index(
                condition=models.Q(("done_at__isnull", False)), fields=["done_at"], name="dt_done"
            ),
        ),
    ]
