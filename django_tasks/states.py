"""Task state names and the sets Celery groups them in."""

#: Waiting in the queue, or unknown (an id never enqueued reads PENDING, as in Celery).
PENDING = "PENDING"
#: Claimed by a worker process, not yet finished (Celery's name; "claimed" in our docs,
#: never "reserved").
RECEIVED = "RECEIVED"
#: Running (recorded only for tasks with ``track_started``).
STARTED = "STARTED"
#: Finished; ``result`` holds the return value.
SUCCESS = "SUCCESS"
#: Raised an exception (or its worker was lost, or it ran past its hard time limit).
FAILURE = "FAILURE"
#: Failed and waiting to be run again at its new ``eta``.
RETRY = "RETRY"
#: Revoked before it ran, expired, or terminated while running.
REVOKED = "REVOKED"
#: Rejected by the task (``Reject(requeue=False)``).
REJECTED = "REJECTED"
#: The task raised ``Ignore``: the worker recorded nothing further.
IGNORED = "IGNORED"

# Celery's sets, exactly (celery/states.py).
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED})
PROPAGATE_STATES = frozenset({FAILURE, REVOKED})
ALL_STATES = READY_STATES | UNREADY_STATES | {IGNORED}

# The queue's own groupings. Tuples in a fixed order: the broker writes them into SQL and
# partial-index predicates as literals, and a partial index serves a query only when the
# query repeats its predicate, constants in the same order (SQLite). The predicates built
# from them (Q objects, SQL) live in django_tasks/broker/predicates.py.

#: Waiting: states a worker may claim (when due).
CLAIMABLE_STATES = (PENDING, RETRY)
#: The standard states of a row a worker holds: claimed (RECEIVED) or running (STARTED).
#: Custom states set by ``update_state`` (PROGRESS...) are held too: see UNHELD_STATES.
HELD_STATES = (RECEIVED, STARTED)
#: Finished: the row's last state (Celery's READY_STATES, and REJECTED and IGNORED, which
#: Celery never stores but a row must, to be let go of), in a fixed order.
FINISHED_STATES = tuple(sorted({SUCCESS, FAILURE, REVOKED, REJECTED, IGNORED}))
#: States in which no worker holds the row (waiting or finished). A row in any other
#: state, custom ones included, is held: recovered when its worker dies.
UNHELD_STATES = (*CLAIMABLE_STATES, *FINISHED_STATES)
