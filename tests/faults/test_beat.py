"""Beat gone wrong: two Beats at once, and a Beat that was down for three days."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from nurture.lib.calendar import is_business_day
from tests.faults.deployment import (
    Deployment,
    assert_cards_consistent,
    assert_runs_complete,
    assert_same_touchpoints,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(150)]

DAY = dt.timedelta(days=1)


def sweeps_sent(log: str) -> int:
    return len(re.findall(r"Sending due task .*campaigns\.tasks\.plan_sweep", log))


def test_two_beats_at_once_for_many_ticks_plan_everything_once(deployment: Deployment) -> None:
    db = deployment.db
    today = timezone.localdate()
    db.schedule_sweep(every_seconds=2)
    deployment.worker("w1", concurrency=2)
    deployment.worker("w2", concurrency=2)
    beats = [deployment.beat("beat1"), deployment.beat("beat2")]

    # While both tick, customers arrive in batches (an import: plain SQL, no re-plan signal), so
    # that concurrent sweeps have new work to race for, not only the first one.
    added: list[tuple[str, dt.date]] = []
    for batch in range(6):
        customers = [(f"N-{batch}-{i}", today - dt.timedelta(days=(7 * batch + 3 * i) % 30 + 1)) for i in range(4)]
        db.add_customers(customers)
        added += customers
        time.sleep(2)
    wait_for(lambda: all(sweeps_sent(b.log(None)) >= 8 for b in beats), timeout=40, what="eight ticks of each Beat")
    for beat in beats:
        beat.stop()
    deployment.wait_quiet()

    assert db.completed_sweeps() >= 16  # every tick of both Beats became a sweep, and each completed
    reference = deployment.clone()
    reference.add_customers(added)
    deployment.manage("plan_touchpoints", database=reference)
    assert_same_touchpoints(db, reference)
    assert_cards_consistent(db)
    assert_runs_complete(db)


def last_sweep_before_the_outage(today: dt.date) -> dt.date:
    """Three days ago; further back if the days in between hold no business day (a weekend)."""
    day = today - 3 * DAY
    while not any(is_business_day(day + n * DAY, "GB") for n in range(1, (today - day).days)):
        day -= DAY
    return day


def test_three_days_without_beat_are_made_up_once_and_marked_late(deployment: Deployment) -> None:
    db = deployment.db
    today = timezone.localdate()
    last = last_sweep_before_the_outage(today)
    # The last sweep before Beat went down (planning up to that day), then three days of nothing.
    deployment.manage("plan_touchpoints", "--date", last.isoformat(), "--horizon", "0")
    db.schedule_sweep(last_run_at=timezone.now() - (today - last))  # the hourly schedule, 3 days overdue

    deployment.worker("worker", concurrency=2)
    beat = deployment.beat("beat")
    wait_for(lambda: db.completed_sweeps() == 2, timeout=60, what=f"the catch-up sweep\n{deployment.logs()}")
    time.sleep(3)  # an overdue hourly schedule fires once, not once per missed hour
    beat.stop()
    deployment.wait_quiet()
    assert sweeps_sent(beat.log(None)) == 1
    assert db.completed_sweeps() == 2

    # What a Beat that never stopped would have made: a sweep at the start of every day.
    reference = deployment.clone()
    for day in range((today - last).days):
        deployment.manage(
            "plan_touchpoints", "--date", (last + day * DAY).isoformat(), "--horizon", "0", database=reference
        )
    deployment.manage("plan_touchpoints", database=reference)

    assert_same_touchpoints(db, reference, compare_late=False)
    assert_cards_consistent(db)
    assert_runs_complete(db)
    # row[5] is the due date, row[-1] the late flag.
    late = {row[:-1]: row[-1] for row in db.touchpoints()}
    late_had_beat_run = {row[:-1]: row[-1] for row in reference.touchpoints()}
    in_gap = [key for key in late if last < key[5] < today]
    assert in_gap, "nothing was due while Beat was down: the test proves nothing"
    assert all(late[key] for key in in_gap), "everything due while Beat was down is marked late"
    # Outside the gap, late means what it would have meant anyway (a first sweep's catch-up).
    assert {k: v for k, v in late.items() if k not in in_gap} == {
        k: v for k, v in late_had_beat_run.items() if k not in in_gap
    }
    assert not any(late[key] for key in late if key[5] >= today)
