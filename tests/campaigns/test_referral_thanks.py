"""The campaign side of referrals: the "Referral thanks" cadence planned from the qualified
referral's milestone (quiet periods and the frequency cap apply), the referral thanked by the card
mailed or the call made (with its referral.thanked webhook event), and "Ask for a referral" after
a promoter score, never in the quiet period after "at risk"."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from campaigns.models import Cadence, Touchpoint, WebhookEvent
from campaigns.services.activities import ActivityInput, activities_record
from campaigns.services.batches import batch_mark_mailed
from campaigns.services.holds import QUIET_PERIOD_REASON
from campaigns.services.planning import plan_customers
from campaigns.services.reactions import hold_celebrations
from campaigns.services.referral_thanks import referrals_thank
from campaigns.services.touchpoints import touchpoint_log_outcome
from campaigns.services.webhooks import webhook_endpoint_create
from nurture.models import Customer, Milestone, Referral
from nurture.services.referrals import referral_create
from tests.campaigns.test_batches import build, render
from tests.campaigns.test_cards_workflow import make_card
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)  # Monday 4 May 2026
D = dt.date


@pytest.fixture
def endpoint(settings: Any) -> Any:
    settings.NURTURE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    owner = make_user("hooks")
    return webhook_endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["referral.thanked"], owner=owner)


def thanks_of(customer: Customer) -> dict[str, Touchpoint]:
    return {
        t.rule.slug: t
        for t in Touchpoint.objects.filter(customer=customer, rule__cadence__name="Referral thanks").select_related(
            "rule"
        )
    }


def qualified(now: dt.datetime = NOW, **referrer_fields: Any) -> tuple[Referral, Customer]:
    referrer = make_customer(**referrer_fields)
    referral = referral_create(referrer=referrer, referred=make_customer(), source=Referral.Source.ADMIN, now=now)
    assert referral.status == Referral.Status.QUALIFIED
    return referral, referrer


def planned(referrer: Customer, now: dt.datetime = NOW) -> dict[str, Touchpoint]:
    with time_machine.travel(now, tick=False):
        plan_customers([referrer.pk], now=now)
    return thanks_of(referrer)


def test_a_qualified_referral_plans_a_card_two_business_days_later_and_a_call_a_week_later():
    _, referrer = qualified()
    friday = NOW + dt.timedelta(days=4)
    _, on_friday = qualified(now=friday)
    touchpoints = planned(referrer)
    card, call = touchpoints["referral-thank-you-card"], touchpoints["referral-thank-you-call"]
    assert (card.kind, card.occurs_on, card.due_on, card.status) == ("card", D(2026, 5, 6), D(2026, 5, 6), "pending")
    assert (call.kind, call.due_on, call.status) == ("call", D(2026, 5, 11), "pending")
    # A week after a Friday is a Friday; two business days after it is the Tuesday, not the Sunday.
    later = planned(on_friday, now=friday)
    assert later["referral-thank-you-call"].due_on == D(2026, 5, 15)
    assert (later["referral-thank-you-card"].occurs_on, later["referral-thank-you-card"].due_on) == (
        D(2026, 5, 12),
        D(2026, 5, 12),
    )


def test_the_quiet_period_holds_the_thank_you_card_and_the_frequency_cap_applies(settings):
    _, quiet = qualified(quiet_until=D(2026, 5, 20))
    touchpoints = planned(quiet)
    assert (touchpoints["referral-thank-you-card"].status, touchpoints["referral-thank-you-card"].hold_reason) == (
        "held",
        QUIET_PERIOD_REASON,
    )
    assert touchpoints["referral-thank-you-call"].status == "pending"  # a thank-you call is not held
    settings.NURTURE_FREQUENCY_CAP = (1, 30)
    _, capped = qualified()
    touchpoints = planned(capped)
    assert touchpoints["referral-thank-you-card"].status == "pending"
    assert touchpoints["referral-thank-you-call"].status == "held"
    assert "frequency cap" in touchpoints["referral-thank-you-call"].hold_reason


def test_the_call_that_reaches_the_referrer_thanks_the_referral_and_records_the_webhook_event(endpoint):
    agent = make_user("agent")
    referral, referrer = qualified(external_id="REF-1")
    unanswered, other = qualified()
    call = planned(referrer)["referral-thank-you-call"]
    missed = planned(other)["referral-thank-you-call"]
    touchpoint_log_outcome(touchpoint=missed, outcome="no_answer", by=agent)
    unanswered.refresh_from_db()
    assert unanswered.status == Referral.Status.QUALIFIED  # "no answer" thanks nobody
    touchpoint_log_outcome(touchpoint=call, outcome="reached", by=agent)
    referral.refresh_from_db()
    assert referral.status == Referral.Status.THANKED and referral.thanked_at is not None
    [event] = WebhookEvent.objects.filter(type="referral.thanked")
    assert event.subject_id == referral.pk
    assert event.data["referral"] == referral.pk and event.data["referrer"] == "REF-1"
    assert event.data["referred"] == referral.referred.external_id and event.data["touchpoint"] == call.pk
    assert event.data["thanked_at"] == referral.thanked_at.isoformat()
    # Thanked once: the card done later changes nothing and records nothing more.
    card = thanks_of(referrer)["referral-thank-you-card"]
    Touchpoint.objects.filter(pk=card.pk).update(status="done")
    assert referrals_thank(touchpoint_ids=[card.pk]) == 0
    assert WebhookEvent.objects.filter(type="referral.thanked").count() == 1


@pytest.mark.usefixtures("media_root")
def test_the_thank_you_card_mailed_thanks_the_referral(endpoint):
    referral, referrer = qualified()
    card = make_card(customer=referrer, rule=Cadence.objects.get(name="Referral thanks").rules.get(action="card"))
    Referral.objects.filter(pk=referral.pk).update(milestone=card.touchpoint.milestone)
    batch = render(build())
    batch_mark_mailed(batch=batch, by=make_user("printer"))
    referral.refresh_from_db()
    assert referral.status == Referral.Status.THANKED
    assert WebhookEvent.objects.filter(type="referral.thanked", subject_id=referral.pk).count() == 1


def test_a_void_or_pending_referral_is_not_thanked():
    referral, referrer = qualified()
    call = planned(referrer)["referral-thank-you-call"]
    Referral.objects.filter(pk=referral.pk).update(status="void", voided_at=NOW, void_reason="test")
    Touchpoint.objects.filter(pk=call.pk).update(status="done", outcome="reached")
    assert referrals_thank(touchpoint_ids=[call.pk]) == 0


# --- Ask for a referral ------------------------------------------------------------------------


@pytest.fixture
def ask() -> Cadence:
    cadence = Cadence.objects.get(name="Ask for a referral")
    assert not cadence.active  # off by default
    cadence.active = True
    cadence.save()
    return cadence


def nps(customer: Customer, score: int, at: dt.datetime = NOW) -> None:
    activities_record(rows=[ActivityInput(customer=customer, channel="nps", occurred_at=at, score=score)], now=at)


def ask_calls(customer: Customer, now: dt.datetime = NOW) -> list[Touchpoint]:
    with time_machine.travel(now, tick=False):
        plan_customers([customer.pk], now=now)
    return list(Touchpoint.objects.filter(customer=customer, rule__slug="ask-for-a-referral"))


def test_a_promoter_score_plans_the_ask_two_weeks_later_and_a_passive_one_nothing(ask):
    promoter, passive = make_customer(), make_customer()
    nps(promoter, 9)
    nps(promoter, 10)  # the same day again: one milestone
    nps(passive, 8)
    assert list(Milestone.objects.filter(kind__slug="promoter_score").values_list("customer_id", "date")) == [
        (promoter.pk, D(2026, 5, 4))
    ]
    [call] = ask_calls(promoter)
    assert (call.kind, call.due_on, call.status) == ("call", D(2026, 5, 18), "pending")
    assert ask_calls(passive) == []


def test_never_within_the_quiet_period_after_at_risk(ask):
    # "At risk" 10 days before the promoter score: its 30 quiet days cover the call 14 days after it.
    recent, earlier, later = make_customer(), make_customer(), make_customer()
    hold_celebrations(customer_ids=[recent.pk], quiet_until=D(2026, 4, 24) + dt.timedelta(days=30), now=NOW)
    # "At risk" 20 days before: the call falls 34 days after it, outside the quiet period.
    hold_celebrations(customer_ids=[earlier.pk], quiet_until=D(2026, 4, 14) + dt.timedelta(days=30), now=NOW)
    for customer in (recent, earlier, later):
        nps(customer, 10)
    [held] = ask_calls(recent)
    assert (held.status, held.hold_reason) == ("held", QUIET_PERIOD_REASON)
    [kept] = ask_calls(earlier)
    assert kept.status == "pending"
    # "At risk" logged after the call was planned, before it is due: held at once.
    [call] = ask_calls(later)
    assert call.status == "pending"
    hold_celebrations(customer_ids=[later.pk], quiet_until=D(2026, 6, 5), now=NOW + dt.timedelta(days=6))
    call.refresh_from_db()
    assert (call.status, call.hold_reason) == ("held", QUIET_PERIOD_REASON)
