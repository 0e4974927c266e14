"""Referrals on the customer side: the guards (each refused, naming the field), the states, the
review period, qualifying once however often or concurrently it runs, and voiding."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, transaction

from nurture.models import Milestone, Referral
from nurture.services.customers import InputError
from nurture.services.referrals import (
    ReferralError,
    ReferralInput,
    referral_create,
    referrals_create,
    referrals_qualify,
    referrals_qualify_due,
    referrals_void,
)
from nurture.tasks import qualify_referrals
from tests.factories import make_customer
from tests.support.concurrency import at_once

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)  # a Monday


def referred_milestones(customer: Any) -> list[tuple[str, str]]:
    return [
        (m.date.isoformat(), m.note)
        for m in Milestone.objects.filter(customer=customer, kind__slug="referred_customer")
    ]


def problems(exc: pytest.ExceptionInfo[InputError]) -> list[tuple[int, str]]:
    return [(p.index, p.field) for p in exc.value.problems]


def test_without_a_review_period_a_referral_qualifies_at_once_and_the_referrer_gets_the_milestone():
    referrer = make_customer(time_zone="Pacific/Kiritimati")  # UTC+14: already 5 May there
    referred = make_customer(external_id="NEW-1", email="grace@example.com")
    referral = referral_create(referrer=referrer, referred=referred, source=Referral.Source.ADMIN, now=NOW)
    assert referral.status == Referral.Status.QUALIFIED
    assert referral.qualified_at == NOW and referral.qualifies_on == dt.date(2026, 5, 4)
    assert referred_milestones(referrer) == [("2026-05-05", "Referred NEW-1")]
    assert referral.milestone is not None and referral.milestone.customer == referrer
    assert referred_milestones(referred) == []


def test_a_review_period_keeps_it_pending_until_the_beat_task_qualifies_it(settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 14
    referrer, referred = make_customer(), make_customer()
    referral = referral_create(referrer=referrer, referred=referred, source=Referral.Source.ADMIN, now=NOW)
    assert (referral.status, referral.qualifies_on) == (Referral.Status.PENDING, dt.date(2026, 5, 18))
    assert referrals_qualify_due(now=NOW + dt.timedelta(days=13)) == 0
    assert referred_milestones(referrer) == []
    with time_machine.travel(NOW + dt.timedelta(days=14), tick=False):
        assert qualify_referrals() == {"qualified": 1}
        assert qualify_referrals() == {"qualified": 0}  # idempotent: nothing pending any more
    referral.refresh_from_db()
    assert referral.status == Referral.Status.QUALIFIED
    assert [d for d, _ in referred_milestones(referrer)] == ["2026-05-18"]


def test_self_referral_is_refused_by_the_service_and_by_the_database():
    customer = make_customer()
    with pytest.raises(InputError) as exc:
        referral_create(referrer=customer, referred=customer, source=Referral.Source.ADMIN)
    assert problems(exc) == [(0, "referrer")]
    assert "cannot refer themselves" in str(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(referrer=customer, referred=customer, source="admin", qualifies_on=NOW.date())


def test_one_referrer_per_referred_customer_and_the_same_referral_again_is_the_one_there():
    first, second, referred = make_customer(), make_customer(), make_customer(external_id="NEW-1")
    referral = referral_create(referrer=first, referred=referred, source=Referral.Source.ADMIN, now=NOW)
    again = referral_create(referrer=first, referred=referred, source=Referral.Source.ADMIN, now=NOW)
    assert again.pk == referral.pk and Referral.objects.count() == 1
    with pytest.raises(InputError) as exc:
        referral_create(referrer=second, referred=referred, source=Referral.Source.ADMIN)
    assert problems(exc) == [(0, "referred")]
    assert "NEW-1 was already referred by another customer" in str(exc.value)
    # Two referrers for one new customer in one set: refused, and nothing of the set is written.
    other = make_customer()
    with pytest.raises(InputError) as exc:
        referrals_create(
            rows=[ReferralInput(referrer=first, referred=other), ReferralInput(referrer=second, referred=other)],
            source=Referral.Source.IMPORT,
            names={"referred": "external_id"},
        )
    assert problems(exc) == [(1, "external_id")]
    assert Referral.objects.count() == 1


def test_a_referral_of_someone_who_was_already_a_customer_is_refused():
    referrer = make_customer()
    make_customer(email="Grace@Example.com ", phone="+44 20 7946 0018")
    by_email = make_customer(email="grace@example.com")
    by_phone = make_customer(phone="0044-(20)-7946.0018".replace("0044", "44"))
    fine = make_customer(email="new@example.com", phone="+44 20 7946 0019")
    old = make_customer()
    with pytest.raises(InputError) as exc:
        referrals_create(
            rows=[
                ReferralInput(referrer=referrer, referred=by_email),
                ReferralInput(referrer=referrer, referred=by_phone),
                ReferralInput(referrer=referrer, referred=fine),
                ReferralInput(referrer=referrer, referred=old, referred_is_new=False),
            ],
            source=Referral.Source.API,
            names={"referred.email": "customer.email", "referred.phone": "customer.phone"},
        )
    assert problems(exc) == [(0, "customer.email"), (1, "customer.phone"), (3, "referred")]
    message = str(exc.value)
    assert "another customer already has the e-mail address 'grace@example.com'" in message
    assert "was already a customer: a referral brings in a new customer" in message
    assert not Referral.objects.exists()
    # The referrer's own e-mail on the "new" customer is a self-referral in disguise: refused too.
    twin = make_customer(email=referrer.email or "me@example.com")
    referrer.email = twin.email
    referrer.save()
    with pytest.raises(InputError):
        referral_create(referrer=referrer, referred=twin, source=Referral.Source.ADMIN)


def test_qualifying_twice_gives_one_milestone_and_referrals_of_one_day_share_it(settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 1
    referrer = make_customer()
    referrals = referrals_create(
        rows=[ReferralInput(referrer=referrer, referred=make_customer()) for _ in range(3)],
        source=Referral.Source.IMPORT,
        now=NOW,
    )
    later = NOW + dt.timedelta(days=1)
    assert referrals_qualify(referrals=referrals[:1], now=later) == 1
    assert referrals_qualify_due(now=later) == 2
    assert referrals_qualify_due(now=later) == 0
    assert len(referred_milestones(referrer)) == 1
    assert len({r.milestone_id for r in Referral.objects.all()}) == 1
    with pytest.raises(ReferralError, match="only pending referrals qualify"):
        referrals_qualify(referrals=referrals, now=later)


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_qualify_each_referral_once(settings, on_postgresql):
    if not on_postgresql:
        pytest.skip("SQLite has one writer at a time")
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 1
    referrer = make_customer()
    referrals_create(
        rows=[ReferralInput(referrer=referrer, referred=make_customer()) for _ in range(40)],
        source=Referral.Source.IMPORT,
        now=NOW,
    )

    def run() -> int:
        return referrals_qualify_due(now=NOW + dt.timedelta(days=1))

    counts = at_once(run, run, timeout=30)
    assert sum(counts) == 40
    assert Referral.objects.filter(status="qualified").count() == 40
    assert len(referred_milestones(referrer)) == 1


def test_voiding_needs_a_reason_is_all_or_nothing_and_removes_an_unshared_milestone(settings):
    referrer = make_customer()
    one, two = (
        referral_create(referrer=referrer, referred=make_customer(), source=Referral.Source.ADMIN, now=NOW)
        for _ in range(2)
    )
    with pytest.raises(ReferralError, match="reason is required"):
        referrals_void(referrals=[one], reason="  ")
    assert referrals_void(referrals=[one], reason="Duplicate of a lead", now=NOW) == 1
    # The other referral of that day still holds the milestone.
    assert len(referred_milestones(referrer)) == 1
    with pytest.raises(ReferralError, match=r"not .*\(void\)"):
        referrals_void(referrals=[one, two], reason="again")
    two.refresh_from_db()
    assert two.status == Referral.Status.QUALIFIED
    assert referrals_void(referrals=[two], reason="Fraud", now=NOW) == 1
    assert referred_milestones(referrer) == []
    one.refresh_from_db()
    assert (one.status, one.void_reason, one.voided_at) == ("void", "Duplicate of a lead", NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.filter(pk=one.pk).update(void_reason="")
