"""PostgreSQL restarts while a worker is half-way through planning."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.faults.deployment import (
    Deployment,
    assert_cards_consistent,
    assert_runs_complete,
    assert_same_touchpoints,
    backends_waiting_on_locks,
    planning_held,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(150)]


def test_postgresql_restarted_while_a_worker_is_busy(deployment: Deployment) -> None:
    db = deployment.db
    today = timezone.localdate()
    db.schedule_sweep(every_seconds=3)
    worker = deployment.worker("worker", concurrency=2)
    beat = deployment.beat("beat")
    wait_for(lambda: db.completed_sweeps() >= 1, timeout=40, what=f"a first sweep\n{deployment.logs()}")

    before = [(f"B-{i}", today - dt.timedelta(days=14 + i)) for i in range(6)]
    db.add_customers(before)
    with planning_held(db):
        wait_for(lambda: backends_waiting_on_locks(db) >= 1, timeout=30, what=f"a chunk half-way\n{worker.log()}")
        # "fast": every connection is cut and its transaction rolled back, ours included.
        deployment.postgres.restart("fast")
    after = [(f"A-{i}", today - dt.timedelta(days=8 + i)) for i in range(6)]
    db.add_customers(after)

    # The chunk that was cut short is retried; later ticks plan the customers added since.
    completed = db.completed_sweeps()
    wait_for(
        lambda: (
            db.completed_sweeps() > completed + 1
            and db.scalar(
                "SELECT count(*) FROM campaigns_touchpoint t JOIN nurture_customer c ON c.id = t.customer_id "
                "WHERE c.external_id LIKE 'A-%%'"
            )
        ),
        timeout=60,
        what=f"sweeps after the restart\n{deployment.logs()}",
    )
    assert worker.alive() and beat.alive()  # neither needed restarting
    retried = (
        "SELECT count(*) FROM nurture_jobrun WHERE task_name = 'campaigns.tasks.plan_chunk' AND summary ? 'retries'"
    )
    assert db.scalar(retried) >= 1  # the chunk cut short, retried under its own task id
    beat.stop()
    deployment.wait_quiet()

    reference = deployment.clone()
    reference.add_customers(before + after)
    deployment.manage("plan_touchpoints", database=reference)
    assert_same_touchpoints(db, reference)
    assert_cards_consistent(db)
    assert_runs_complete(db)
