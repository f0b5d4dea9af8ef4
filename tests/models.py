"""Tables the test task bodies write to."""

from django.db import models


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
