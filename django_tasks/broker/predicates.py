"""
The state predicates, each defined once: held, claimable, finished, and the verbs' sets.

Each is a ``StateSet`` built from the state tuples of ``django_tasks.states``, and gives
the same predicate in the three forms the package needs: a ``Q`` for the ORM (queries and
the models' partial indexes), SQL for the vendor statements, and ``in`` for Python (the
admin deciding which actions apply to a row). The SQL writes states as literals in the
tuple's order: SQLite matches a partial index only when the query repeats the index's
predicate term for term, and never through bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from .. import states


@dataclass(frozen=True, slots=True)
class StateSet:
    """The states `names`, or (`complement`) every state but those, custom states too."""

    names: tuple[str, ...]
    complement: bool = False

    def __contains__(self, state: object) -> bool:
        return (state in self.names) != self.complement

    def __or__(self, other: StateSet) -> StateSet:
        if self.complement or other.complement:
            raise ValueError("Only sets of named states can be joined with |.")
        return StateSet((*self.names, *(s for s in other.names if s not in self.names)))

    @property
    def q(self) -> Q:
        """The predicate on ``TaskMessage.state`` for the ORM."""
        if self.complement:
            # A list, as migration 0001 recorded dt_held's predicate (the autodetector
            # compares them literally).
            return ~Q(state__in=list(self.names))
        return Q(state__in=self.names)

    def sql(self, column: str = "state") -> str:
        """The predicate as SQL on `column`, the states as literals in their fixed order."""
        literals = ", ".join(f"'{s}'" for s in self.names)
        return f"{column} {'NOT IN' if self.complement else 'IN'} ({literals})"


#: Waiting rows: a worker may claim them once due.
CLAIMABLE = StateSet(states.CLAIMABLE_STATES)
#: Claimed rows not started (as far as the database knows: started ones are STARTED only
#: with ``track_started``; the start marker knows the rest).
CLAIMED = StateSet((states.RECEIVED,))
#: Rows some worker holds: neither waiting nor finished (custom update_state states too).
HELD = StateSet(states.UNHELD_STATES, complement=True)
#: Finished rows: FINISHED_STATES (Celery's READY_STATES, REJECTED and IGNORED).
FINISHED = StateSet(states.FINISHED_STATES)
#: Rows not finished: waiting or held.
UNFINISHED = StateSet(states.FINISHED_STATES, complement=True)
