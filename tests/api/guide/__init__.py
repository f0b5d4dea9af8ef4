"""
The code examples of Celery 3.1's "Tasks" guide, one module per example (or per section
where names do not clash), with only the imports changed:

    from celery import Task                  ->  from django_tasks import Task
    from celery.exceptions import Ignore     ->  from django_tasks.exceptions import Ignore
    from celery.utils.log import get_task_logger -> from django_tasks import get_task_logger
    from celery import states                ->  from django_tasks import states
    app = Celery(...)                        ->  from django_tasks import app

What lies off the machine in the guide (Twitter, Redis, a renderer, an HTTP library, a
"Database") is a stub in ``stubs``; stubs record what happened in the tests' Execution table
so the test process can see what a worker did.
"""

from . import (  # noqa: F401  (registers the tasks in every process that imports this)
    articles,
    basics,
    bound,
    classes,
    classes_behind,
    context,
    errors_bad,
    errors_kwargs,
    errors_ok,
    errors_required,
    exceptions_ok,
    inheritance,
    logs,
    logs_redirect,
    retrying,
    retrying_delay,
    semipredicates,
    states_progress,
    tips,
    tips_bad,
    tips_good,
)
