"""Task state names and the sets Celery groups them in."""

#: Waiting in the queue, or unknown (an id never enqueued reads PENDING, as in Celery).
PENDING = "PENDING"
#: Claimed by a worker process, not yet finished.
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

READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED, REJECTED, IGNORED})
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, RETRY})
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED})
PROPAGATE_STATES = frozenset({FAILURE, REVOKED})
ALL_STATES = READY_STATES | UNREADY_STATES

#: States a worker may claim (when due).
CLAIMABLE_STATES = (PENDING, RETRY)
#: States a worker holds: its rows in these are recovered when it dies.
HELD_STATES = (RECEIVED, STARTED)
