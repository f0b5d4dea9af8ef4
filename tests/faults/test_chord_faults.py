"""A chord under a kill -9 storm: no callback lost, none run twice."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from django_tasks import chord
from django_tasks.models import ChordCounter, TaskMessage
from tests import tasks
from tests.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_kill_storm_mid_chord_runs_the_callback_exactly_once(runtasks, wait_for):
    """200 acks_late members, children killed with SIGKILL every half second: one callback."""
    n = 200
    result = chord(tasks.square_late.s(i, 0.1) for i in range(n))(tasks.tsum.s(key="storm"))
    workers = [runtasks("-c", "2"), runtasks("-c", "2")]
    kills = 0
    deadline = time.monotonic() + 60
    while not Execution.objects.filter(key="storm").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
        children = [pid for w in workers for pid in w.children()]
        if children and kills < 10:
            try:
                os.kill(random.choice(children), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
    assert result.get(timeout=60) == sum(i * i for i in range(n))
    time.sleep(1)  # a second callback, if any, would have had time to run
    redelivered = TaskMessage.objects.filter(group_id=result.parent.id, redelivered=True).count()
    print(f"\nkills={kills} redelivered={redelivered}")
    assert kills >= 3
    assert Execution.objects.filter(key="storm").count() == 1
    assert TaskMessage.objects.filter(name="tests.tasks.tsum").count() == 1
    assert not ChordCounter.objects.exists()
