"""The nightly health run in real Celery workers: two runs of a day at once, in chunks taken by
any worker, score everyone once and react to a customer entering red once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import tasks
from campaigns.models import HealthBandChange, HealthRun, HealthSnapshot
from campaigns.services.health import health_score_day
from nurture.models import Customer
from tests.factories import make_customer, make_touchpoint
from tests.support.worker import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.timeout(240),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def runs_finished(n: int) -> bool:
    return HealthRun.objects.filter(finished_at__isnull=False).count() >= n


def test_two_nightly_runs_at_once_score_everyone_once(worker_factory):
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    customers: list[Customer] = []
    for n in range(13):
        customer = make_customer()
        Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
        when = timezone.now() - dt.timedelta(days=3 + n)
        make_touchpoint(customer=customer, status="done", outcome="reached", completed_at=when, due_on=when.date())
        customers.append(customer)
    health_score_day(as_of=yesterday)
    assert set(HealthSnapshot.objects.values_list("band", flat=True)) == {"green"}
    # Today the first customer is found at risk, with no answer since: red.
    first = customers[0]
    for days, outcome in ((2, "at_risk"), (1, "no_answer")):
        when = timezone.now() - dt.timedelta(days=days, hours=1)
        make_touchpoint(customer=first, status="done", outcome=outcome, completed_at=when, due_on=when.date())
    worker_factory(concurrency=2)
    worker_factory(concurrency=2)

    tasks.health_sweep.delay(today.isoformat(), 4)
    tasks.health_sweep.delay(today.isoformat(), 4)
    wait_until(lambda: runs_finished(3), what="two health runs to finish")

    assert set(HealthRun.objects.filter(as_of=today).values_list("chunk_count", flat=True)) == {4}
    assert HealthSnapshot.objects.filter(date=today).count() == 13
    [change] = HealthBandChange.objects.all()
    assert (change.customer_id, change.from_band, change.to_band) == (first.pk, "green", "red")
    assert change.reacted_at is not None
    first.refresh_from_db()
    assert first.quiet_until is not None
    assert sorted(HealthRun.objects.filter(as_of=today).values_list("scored_count", flat=True)) == [13, 13]
