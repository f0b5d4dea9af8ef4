"""Tables the test task bodies write to."""

from django.db import connection, models


def insert_key(table: str, key: str, ignore_duplicate: bool = False) -> None:
    """INSERT `key` into `table` in raw SQL (no ORM on the task path), on every vendor:
    "key" is a reserved word on MySQL; `ignore_duplicate` skips a row that exists."""
    q = connection.ops.quote_name
    sql = f"INSERT INTO {q(table)} ({q('key')}) VALUES (%s)"
    if ignore_duplicate:
        if connection.vendor == "mysql":
            sql = sql.replace("INSERT", "INSERT IGNORE", 1)
        else:
            sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])


class Execution(models.Model):
    """One row per task body run: the unique key proves no task ran twice."""

    key = models.CharField(max_length=100, unique=True)

    class Meta:
        db_table = "tests_execution"

    def __str__(self) -> str:
        return self.key


class Start(models.Model):
    """One row per task body start (may repeat when a task is redelivered)."""

    key = models.CharField(max_length=100)

    class Meta:
        db_table = "tests_start"

    def __str__(self) -> str:
        return self.key
