"""Redis down when a request commits: the request succeeds at once, and a periodic job does the lost work.

Logging a "reached" call moves the customer's last-contact milestone, and the commit queues a
re-plan of the customer. Here Redis is a server of the test's own (never the machine's), killed
before the request: the task cannot be published. The change is committed all the same, so the
answer must be the usual redirect to Today, within a couple of seconds; the publish is logged and
dropped (nurture/publishing.py). Once Redis is back, the planner's next sweep, fanned out by a real
worker, plans what the lost re-plan would have: its incremental pass takes every milestone changed
since the last completed sweep. Likewise an "at risk" call: the lead's alert is not queued, and
the recovery job (Beat, every five minutes) sends it once Redis is back, once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from django.urls import reverse
from django.utils import timezone

from campaigns import tasks
from campaigns.models import Cadence, PlannerRun, Rule, Touchpoint
from campaigns.services import planning
from nurture.models import JobRun, Milestone, MilestoneKind, StaffProfile
from nurture.publishing import publish
from tests.conftest import require_service
from tests.factories import make_customer, make_touchpoint, make_user
from tests.support.broker import celery_broker
from tests.support.servers import RedisServer, redis_server_binary
from tests.support.worker import Worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

# The request's answer, Redis down, may take this long at most (the broker's connect timeout is 2 s;
# the publish fails at once on a refused connection).
ANSWER_WITHIN = 2.5


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        require_service("redis-server", "not on PATH")
    server = RedisServer(tmp_path / "redis").start()
    try:
        with celery_broker(server.url(0)):
            yield server
    finally:
        server.stop()


@pytest.fixture
def stay_in_touch() -> Rule:
    """The migrations' "Stay in touch" cadence switched on: a check-in call a month after the last contact."""
    Cadence.objects.filter(name="Stay in touch").update(active=True)
    Rule.objects.filter(slug="check-in-after-contact").update(offset_amount=1)  # inside the 60-day horizon
    return Rule.objects.get(slug="check-in-after-contact")


def test_a_reached_call_logged_while_redis_is_down_commits_and_the_next_sweep_replans(
    client: Any, alice: Any, redis: RedisServer, stay_in_touch: Rule, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    today = timezone.localdate()
    customer = make_customer(account_manager=alice, country="GB", time_zone="UTC")
    Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=today - dt.timedelta(days=20)
    )
    call = make_touchpoint(customer=customer, due_on=today)
    planning.plan()  # a completed sweep: the next one is incremental
    assert not Touchpoint.objects.filter(customer=customer, rule=stay_in_touch).exists()

    assert publish(tasks.dispatch_webhooks)  # the pool holds a live connection to Redis ...
    redis.stop()  # ... which dies, with everything in it
    client.force_login(alice)
    caplog.set_level(logging.WARNING, logger="nurture.publishing")

    started = time.monotonic()
    response = client.post(reverse("today-log-outcome", args=[call.pk]), {"outcome": "reached"})
    elapsed = time.monotonic() - started

    assert response.status_code == 302 and response["Location"] == reverse("today"), response
    assert elapsed < ANSWER_WITHIN, f"the request took {elapsed:.1f}s with Redis down"
    call.refresh_from_db()
    assert (call.status, call.outcome) == ("done", "reached")  # committed
    contact = Milestone.objects.get(customer=customer, kind__slug="last_contact")
    assert contact.date == today
    lost = [r.getMessage() for r in caplog.records if "campaigns.tasks.replan_customers" in r.getMessage()]
    assert lost and "not queued" in lost[0], caplog.text
    # The re-plan never ran: no check-in yet, and no re-plan of the customer recorded.
    assert not Touchpoint.objects.filter(customer=customer, rule=stay_in_touch).exists()
    assert not PlannerRun.objects.filter(scope=PlannerRun.Scope.CUSTOMERS).exists()

    redis.start()  # the same port, empty
    sweeps = PlannerRun.objects.completed_sweeps().count()
    worker = Worker(tmp_path, concurrency=1, env={"REDIS_URL": redis.url(0)}).start()
    try:
        assert publish(tasks.plan_sweep), caplog.text  # what Beat sends every hour
        # The chunk that plans the check-in commits before the sweep is marked finished: wait for both.
        wait_until(
            lambda: (
                Touchpoint.objects.filter(customer=customer, rule=stay_in_touch, status="pending").exists()
                and PlannerRun.objects.completed_sweeps().count() > sweeps
            ),
            timeout=60,
            what=f"the sweep to plan the check-in and finish\n{worker.log()}",
        )
    finally:
        worker.stop()
    check_in = Touchpoint.objects.get(customer=customer, rule=stay_in_touch, status="pending")
    assert check_in.milestone_id == contact.pk
    assert check_in.occurs_on == today + relativedelta(months=1)
    assert PlannerRun.objects.completed_sweeps().count() == sweeps + 1
    assert not PlannerRun.objects.filter(scope=PlannerRun.Scope.CUSTOMERS).exists()


def test_an_at_risk_call_logged_while_redis_is_down_alerts_the_lead_once_redis_is_back(
    client: Any, alice: Any, redis: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    StaffProfile.objects.create(user=alice, lead=make_user("lena", email="lena@example.com"))
    customer = make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace", time_zone="UTC")
    call = make_touchpoint(customer=customer, due_on=timezone.localdate())

    assert publish(tasks.dispatch_webhooks)  # a live pooled connection to Redis ...
    redis.stop()  # ... which dies
    client.force_login(alice)
    caplog.set_level(logging.WARNING, logger="nurture.publishing")

    started = time.monotonic()
    response = client.post(reverse("today-log-outcome", args=[call.pk]), {"outcome": "at_risk"})
    elapsed = time.monotonic() - started

    assert response.status_code == 302 and elapsed < ANSWER_WITHIN, (response, elapsed)
    call.refresh_from_db()
    assert (call.outcome, call.alert_sent_at) == ("at_risk", None)
    assert "campaigns.tasks.send_at_risk_alert" in caplog.text and "not queued" in caplog.text

    redis.start()  # the same port, empty: the alert's task is nowhere
    worker = Worker(tmp_path, concurrency=1, env={"REDIS_URL": redis.url(0)}).start()
    try:
        # What Beat sends every five minutes (here without waiting the ten minutes first), twice.
        for _ in range(2):
            assert publish(tasks.send_overdue_alerts, 0), caplog.text
        wait_until(
            lambda: (
                JobRun.objects.filter(task_name="campaigns.tasks.send_overdue_alerts", status="succeeded").count() == 2
            ),
            timeout=60,
            what=f"two recovery runs\n{worker.log()}",
        )
    finally:
        worker.stop()
    call.refresh_from_db()
    assert call.alert_sent_at is not None
    runs = JobRun.objects.filter(task_name="campaigns.tasks.send_overdue_alerts").order_by("started_at")
    assert sorted(run.summary["sent"] for run in runs) == [0, 1]  # sent once
