"""A worker killed with SIGKILL in the middle of planning: nothing is lost, nothing is doubled.

Tasks are acknowledged late, so the chunk a dead worker held goes back to the queue: at once when
only a pool process dies (the worker rejects it), after the visibility timeout when the whole
worker dies (Redis gives it to the next worker that starts).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.faults.deployment import (
    PLAN_SWEEP,
    Deployment,
    assert_cards_consistent,
    assert_runs_complete,
    assert_same_touchpoints,
    backends_waiting_on_locks,
    planning_held,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

# Redis hands a message that a dead worker took to another worker after this many seconds.
VISIBILITY_TIMEOUT = 4


def chunk_count(deployment: Deployment) -> int:
    return int(deployment.db.scalar("SELECT coalesce(max(chunk_count), 0) FROM campaigns_plannerrun"))


def assert_planned_once(deployment: Deployment) -> None:
    deployment.wait_quiet()
    reference = deployment.clone()
    deployment.manage("plan_touchpoints", database=reference)
    assert_same_touchpoints(deployment.db, reference)
    assert_cards_consistent(deployment.db)
    assert_runs_complete(deployment.db)
    # One row per chunk task although one of them ran twice: a redelivery keeps its task id.
    chunks = deployment.db.scalar("SELECT count(*) FROM nurture_jobrun WHERE task_name = 'campaigns.tasks.plan_chunk'")
    assert chunks == chunk_count(deployment)


def test_a_worker_killed_in_the_middle_of_planning(deployment: Deployment) -> None:
    db = deployment.db
    timeout = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    victim = deployment.worker("victim", concurrency=1, **timeout)

    with planning_held(db):
        deployment.send(PLAN_SWEEP)
        wait_for(lambda: backends_waiting_on_locks(db) >= 1, timeout=30, what=f"a chunk half-way\n{victim.log()}")
        victim.kill()
    assert db.completed_sweeps() == 0
    [held] = re.findall(r"Task campaigns\.tasks\.plan_chunk\[([-0-9a-f]+)\] received", victim.log(None))[:1]

    # A replacement comes up once the dead worker's messages are visible again.
    time.sleep(VISIBILITY_TIMEOUT + 1)
    survivor = deployment.worker("survivor", concurrency=2, **timeout)
    wait_for(lambda: db.completed_sweeps() == 1, timeout=60, what=f"the sweep to complete\n{survivor.log()}")

    assert f"plan_chunk[{held}] received" in survivor.log(None)  # the very message the victim held
    assert db.scalar("SELECT status FROM nurture_jobrun WHERE task_id = %s", [held]) == "succeeded"
    assert_planned_once(deployment)


def test_a_pool_process_killed_in_the_middle_of_planning(deployment: Deployment) -> None:
    db = deployment.db
    worker = deployment.worker("worker", concurrency=1)

    with planning_held(db):
        deployment.send(PLAN_SWEEP)
        wait_for(lambda: backends_waiting_on_locks(db) >= 1, timeout=30, what=f"a chunk half-way\n{worker.log()}")
        [pool_process] = worker.children()
        os.kill(pool_process, signal.SIGKILL)
        wait_for(
            lambda: "WorkerLostError" in worker.log(None), timeout=30, what=f"the worker to notice\n{worker.log()}"
        )

    # The worker rejects the lost task back to the queue and a new pool process runs it again.
    wait_for(lambda: db.completed_sweeps() == 1, timeout=60, what=f"the sweep to complete\n{worker.log()}")
    assert worker.alive()
    assert_planned_once(deployment)
