"""Redis goes away while Beat fires and tasks wait in it, then comes back empty."""

from __future__ import annotations

import datetime as dt
import time

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


def test_redis_down_while_beat_fires_and_tasks_wait_then_the_next_sweep_fills_the_gap(deployment: Deployment) -> None:
    db = deployment.db
    today = timezone.localdate()
    db.schedule_sweep(every_seconds=2)
    worker = deployment.worker("worker", concurrency=1)
    beat = deployment.beat("beat")
    wait_for(lambda: db.completed_sweeps() >= 1, timeout=40, what=f"a first sweep\n{deployment.logs()}")

    before = [(f"B-{i}", today - dt.timedelta(days=14 + i)) for i in range(6)]
    during = [(f"D-{i}", today - dt.timedelta(days=13 - i)) for i in range(6)]
    db.add_customers(before)
    with planning_held(db):
        # The worker is stuck half-way through a chunk; Beat's ticks pile up in Redis.
        wait_for(lambda: backends_waiting_on_locks(db) >= 1, timeout=30, what="a chunk half-way")
        wait_for(lambda: deployment.broker_backlog() >= 4, timeout=30, what="tasks waiting in Redis")
        deployment.redis.stop()  # SIGKILL, no persistence: every waiting task is lost
        db.add_customers(during)
        wait_for(
            lambda: beat.count("Couldn't apply scheduled task") >= 2, timeout=20, what="Beat to fire into the outage"
        )
    time.sleep(2)  # the chunk that was half-way finishes, and cannot be acknowledged

    sent = beat.count("Sending due task")
    deployment.redis.start()  # the same port, empty
    completed = db.completed_sweeps()
    wait_for(
        lambda: (
            db.completed_sweeps() > completed
            and db.scalar(
                "SELECT count(*) FROM campaigns_touchpoint t JOIN nurture_customer c ON c.id = t.customer_id "
                "WHERE c.external_id LIKE 'D-%%'"
            )
        ),
        timeout=60,
        what=f"a sweep after Redis came back\n{deployment.logs()}",
    )
    assert worker.alive() and beat.alive()  # both reconnected on their own
    # The sweep above may come from a tick Beat sent during the outage and kombu published once
    # Redis was back; Beat's own next tick follows within its 2-second schedule.
    wait_for(lambda: beat.count("Sending due task") > sent, timeout=20, what=f"Beat's next tick\n{deployment.logs()}")
    beat.stop()
    deployment.wait_quiet()

    reference = deployment.clone()
    reference.add_customers(before + during)
    deployment.manage("plan_touchpoints", database=reference)
    assert_same_touchpoints(db, reference)
    assert_cards_consistent(db)
    assert_runs_complete(db)
