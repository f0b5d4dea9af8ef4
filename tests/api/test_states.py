"""States, the sets Celery groups them in, and custom states (eagerly: nothing stored)."""

import pytest

from django_tasks import states
from tests.api.guide import states_progress

pytestmark = pytest.mark.django_db


def test_built_in_states_are_celerys_names():
    assert [
        states.PENDING,
        states.RECEIVED,
        states.STARTED,
        states.SUCCESS,
        states.FAILURE,
        states.RETRY,
        states.REVOKED,
        states.REJECTED,
        states.IGNORED,
    ] == [
        "PENDING",
        "RECEIVED",
        "STARTED",
        "SUCCESS",
        "FAILURE",
        "RETRY",
        "REVOKED",
        "REJECTED",
        "IGNORED",
    ]


def test_state_sets():
    # Exactly Celery's sets; a row's own "finished" set is FINISHED_STATES.
    assert {"PENDING", "RECEIVED", "STARTED", "REJECTED", "RETRY"} == states.UNREADY_STATES
    assert {"SUCCESS", "FAILURE", "REVOKED"} == states.READY_STATES
    assert set(states.FINISHED_STATES) == {"SUCCESS", "FAILURE", "REVOKED", "REJECTED", "IGNORED"}
    assert {"RETRY", "FAILURE", "REVOKED"} == states.EXCEPTION_STATES
    assert {"FAILURE", "REVOKED"} == states.PROPAGATE_STATES
    assert states.READY_STATES.isdisjoint(states.UNREADY_STATES)


def test_the_guides_upload_files_runs_directly_and_eagerly():
    # Directly: called_directly, so no update_state. Eagerly: update_state has no row and
    # stores nothing; the task still succeeds.
    assert states_progress.upload_files(["a", "b"]) is None
    result = states_progress.upload_files.apply((["a", "b"],))
    assert (result.state, result.get()) == (states.SUCCESS, None)


def test_update_state_checks_the_state_name(scratch):
    from django_tasks import app

    @app.task(bind=True)
    def bad_state(self):
        self.update_state(state=42, meta={})

    result = bad_state.apply()
    assert result.state == states.FAILURE
    assert str(result.result) == (
        "Task 'tests.api.test_states.bad_state': state must be a name of 1 to 50 characters, "
        "not 42."
    )
