"""The jobs in a real Celery worker process, on the configured database and broker.

With DATABASE_URL and REDIS_URL set this is PostgreSQL and Redis; without them the embedded
SQLite file and kombu's filesystem broker.
"""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from campaigns import tasks
from campaigns.models import Cadence, Card, DigestDelivery, PlannerRun, Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.signals import bulk_changes
from tests.factories import live_duplicates
from tests.support.worker import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.timeout(240),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def make_customers(n: int, *, today: dt.date) -> list[Customer]:
    kind = MilestoneKind.objects.get(slug="became_customer")
    with bulk_changes():
        return _make_customers(n, today=today, kind=kind)


def _make_customers(n: int, *, today: dt.date, kind: MilestoneKind) -> list[Customer]:
    customers = [
        Customer.objects.create(first_name=f"C{i}", last_name="Test", country="GB", time_zone="Europe/London")
        for i in range(n)
    ]
    for i, c in enumerate(customers):
        Milestone.objects.create(customer=c, kind=kind, date=today - dt.timedelta(days=3 * i + 1))
    return customers


def sweeps_finished(n: int) -> bool:
    return PlannerRun.objects.filter(scope="sweep", finished_at__isnull=False).count() >= n


def one_customer_swept(worker_factory, *, today: dt.date) -> Customer:
    """One customer, one worker, and the first sweep done."""
    [c] = make_customers(1, today=today)
    worker_factory(concurrency=1)
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(1), what="the first sweep")
    return c


def test_a_sweep_in_two_workers_at_once_creates_every_touchpoint_exactly_once(worker_factory, settings):
    settings.NURTURE_PLAN_CHUNK_SIZE = 4
    today = dt.date.today()
    make_customers(30, today=today)
    worker_factory(concurrency=2)
    worker_factory(concurrency=2)

    # Two sweeps at once (two Beats, or a retried tick), each fanned out into chunks.
    tasks.plan_sweep.delay()
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(2), what="two sweeps to finish")

    created = Touchpoint.objects.count()
    assert created > 0
    assert live_duplicates() == 0
    # A third sweep finds nothing to add.
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(3), what="the third sweep")
    assert Touchpoint.objects.count() == created


def test_editing_a_milestone_replans_through_the_worker(worker_factory):
    today = dt.date.today()
    c = one_customer_swept(worker_factory, today=today)
    call = Touchpoint.objects.get(customer=c, rule__slug="welcome-call")

    m = c.milestones.get()
    m.date = today - dt.timedelta(days=5)
    m.save()  # the signal enqueues a re-plan when the transaction commits

    wait_until(
        lambda: Touchpoint.objects.filter(customer=c, status="pending", milestone_date=m.date).exists(),
        what="the re-planned call",
    )
    call.refresh_from_db()
    assert (call.status, call.cancel_reason) == ("cancelled", "milestone date changed")


def test_do_not_contact_cancels_pending_through_the_worker(worker_factory):
    today = dt.date.today()
    c = one_customer_swept(worker_factory, today=today)
    assert Touchpoint.objects.filter(customer=c, status="pending").exists()

    c.status = Customer.Status.DO_NOT_CONTACT
    c.save()

    wait_until(lambda: not Touchpoint.objects.filter(customer=c, status="pending").exists(), what="cancellation")
    assert set(Touchpoint.objects.values_list("cancel_reason", flat=True)) == {"customer is do-not-contact"}


def test_a_sweep_drafts_and_checks_each_card_and_do_not_contact_withdraws_it(worker_factory):
    today = dt.date.today()
    kind = MilestoneKind.objects.get(slug="became_customer")
    with bulk_changes():
        ada = Customer.objects.create(
            first_name="Ada", last_name="Lovelace", country="GB", time_zone="Europe/London", address_line1="1 Road"
        )
        # Five months a customer: the six-month card falls inside the 60-day horizon.
        Milestone.objects.create(customer=ada, kind=kind, date=today - dt.timedelta(days=150))
    worker_factory(concurrency=2)

    tasks.plan_sweep.delay()
    wait_until(lambda: Card.objects.filter(touchpoint__customer=ada).exists(), what="the drafted card")
    card = Card.objects.select_related("touchpoint__rule").get(touchpoint__customer=ada)
    assert card.touchpoint.rule.slug == "six-month-follow-up"
    assert (card.status, card.recipient_name, card.address_line1) == ("draft", "Ada Lovelace", "1 Road")
    assert "Ada" in card.message
    # The fit check ran on the rendering queue.
    wait_until(lambda: Card.objects.get(pk=card.pk).fits is not None, what="the card's fit check")
    assert Card.objects.get(pk=card.pk).fits is True

    # A second sweep drafts nothing twice.
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(2), what="the second sweep")
    assert Card.objects.filter(touchpoint__customer=ada).count() == 1

    ada.status = Customer.Status.DO_NOT_CONTACT
    ada.save()
    wait_until(lambda: Card.objects.get(pk=card.pk).status == "cancelled", what="the card withdrawn")


def test_a_rolled_back_transaction_never_runs_its_task(worker_factory):
    today = dt.date.today()
    c = one_customer_swept(worker_factory, today=today)
    runs_before = PlannerRun.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        m = c.milestones.get()
        m.date = today - dt.timedelta(days=2)
        m.save()
        raise RuntimeError("rolled back")

    # A task sent afterwards is processed; the rolled-back one never was.
    tasks.replan_customers.delay([c.pk])
    wait_until(lambda: PlannerRun.objects.count() == runs_before + 1, what="the marker task")
    assert PlannerRun.objects.filter(scope="customers").count() == 1
    assert not Touchpoint.objects.filter(status="cancelled").exists()


def test_the_morning_digest_mails_each_account_manager_once(worker_factory, alice):
    today = dt.date.today()
    [c] = make_customers(1, today=today)
    Customer.objects.filter(pk=c.pk).update(account_manager=alice, time_zone="UTC")
    worker_factory(concurrency=2)
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(1), what="the first sweep")
    Touchpoint.objects.filter(customer=c, kind="call").update(due_on=today - dt.timedelta(days=1))
    mail_dir = Path(settings.EMAIL_FILE_PATH)
    before = set(mail_dir.glob("*")) if mail_dir.exists() else set()

    tasks.send_digests.delay()
    tasks.send_digests.delay()
    wait_until(lambda: DigestDelivery.objects.filter(sent_at__isnull=False).exists(), what="the digest")

    assert DigestDelivery.objects.get().user == alice
    new_mail = [p.read_text() for p in set(mail_dir.glob("*")) - before]
    assert len(new_mail) == 1
    assert "alice@example.com" in new_mail[0]
    assert "Welcome call" in new_mail[0]
    assert "Overdue (1)" in new_mail[0]


def test_two_sweeps_in_two_workers_plan_a_seasonal_rule_exactly_once(worker_factory, settings):
    settings.NURTURE_PLAN_CHUNK_SIZE = 4
    soon = dt.date.today() + dt.timedelta(days=10)
    cadence = Cadence.objects.create(name="Soon", anchor="annual", anchor_month=soon.month, anchor_day=soon.day)
    rule = Rule.objects.create(cadence=cadence, slug="soon-call", name="Soon", action="call")
    with bulk_changes():
        for i in range(24):
            Customer.objects.create(first_name=f"S{i}", last_name="Test", country="GB", time_zone="Europe/London")
    worker_factory(concurrency=2)
    worker_factory(concurrency=2)

    tasks.plan_sweep.delay()
    tasks.plan_sweep.delay()
    wait_until(lambda: sweeps_finished(2), what="two sweeps to finish")

    assert Touchpoint.objects.filter(rule=rule).count() == 24
    assert live_duplicates() == 0
