"""One factory per model."""

import uuid

import factory
from django.utils import timezone

from django_tasks import states
from django_tasks.models import TaskAttempt, TaskMessage, Worker


class TaskMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskMessage

    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    name = "tests.tasks.add"
    queue = "default"
    priority = 0
    args = factory.LazyFunction(lambda: [1, 2])
    kwargs = factory.LazyFunction(dict)
    state = states.PENDING
    run_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)


class TaskAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskAttempt

    task = factory.SubFactory(TaskMessageFactory, state=states.FAILURE)
    number = 1
    state = states.FAILURE
    worker = "host.1"
    exc_type = "ValueError"
    exc_message = "boom"


class WorkerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Worker

    name = factory.Sequence(lambda n: f"host.{1000 + n}")
    hostname = "host"
    pid = factory.Sequence(lambda n: 1000 + n)
    queues = factory.LazyFunction(lambda: ["default"])
