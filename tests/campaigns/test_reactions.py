"""What a call's outcome changes next: retries, customers at risk, the last contact, the frequency cap."""

import datetime as dt

import pytest
from django.core import mail
from django.test import override_settings

from campaigns.models import Cadence, Rule, Touchpoint
from campaigns.services import planning
from campaigns.services.touchpoints import touchpoint_log_outcome
from nurture.models import Customer, Milestone, MilestoneKind, StaffProfile

pytestmark = pytest.mark.django_db
UTC = dt.UTC
MONDAY = dt.datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def manager(django_user_model, alice):
    """Alice, whose team lead Lena hears about her customers at risk."""
    lead = django_user_model.objects.create_user("lena", email="lena@example.com", first_name="Lena")
    StaffProfile.objects.create(user=alice, lead=lead)
    return alice


def planned_call(manager, *, time_zone: str = "Europe/London") -> Touchpoint:
    customer = Customer.objects.create(
        first_name="Ada", last_name="Lovelace", country="GB", region="ENG", time_zone=time_zone, account_manager=manager
    )
    Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=dt.date(2026, 11, 9)
    )
    planning.plan(now=MONDAY)
    return Touchpoint.objects.get(customer=customer, rule__slug="welcome-call")


def log(touchpoint, outcome, manager, now=MONDAY):
    import time_machine

    with time_machine.travel(now, tick=False):
        return touchpoint_log_outcome(touchpoint=touchpoint, outcome=outcome, notes="n", by=manager)


def test_no_answer_retries_in_business_days_up_to_the_limit(manager):
    cadence = Cadence.objects.get(name="Post-sale nurture")
    cadence.no_answer_retry_days, cadence.no_answer_max_retries = 2, 2
    cadence.save()
    call = planned_call(manager)

    log(call, "no_answer", manager)
    first = Touchpoint.objects.get(follow_up_of=call)
    # Two business days after Monday 23 November.
    assert (first.due_on, first.attempt, first.kind, first.status) == (dt.date(2026, 11, 25), 1, "call", "pending")
    assert first.assignee == manager

    log(first, "no_answer", manager, now=MONDAY + dt.timedelta(days=2))
    second = Touchpoint.objects.get(follow_up_of=call, attempt=2)
    assert second.due_on == dt.date(2026, 11, 27)

    log(second, "no_answer", manager, now=MONDAY + dt.timedelta(days=4))
    assert Touchpoint.objects.filter(follow_up_of=call).count() == 2, "no third retry"


def test_no_retry_when_the_cadence_has_none(manager):
    Cadence.objects.filter(name="Post-sale nurture").update(no_answer_retry_days=None)
    call = planned_call(manager)
    log(call, "no_answer", manager)
    assert not Touchpoint.objects.filter(follow_up_of=call).exists()


def test_at_risk_alerts_the_lead_follows_up_and_holds_celebrations(manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        call = planned_call(manager)
        customer = call.customer
        anniversary = Touchpoint.objects.create(
            customer=customer,
            rule=Rule.objects.get(slug="anniversary-card"),
            milestone=call.milestone,
            milestone_date=call.milestone_date,
            occurs_on=dt.date(2026, 12, 10),
            due_on=dt.date(2026, 12, 7),
            kind="card",
        )
        from django.db import transaction

        with transaction.atomic():
            log(call, "at_risk", manager)
    finally:
        app.conf.task_always_eager = False

    follow_up = Touchpoint.objects.get(follow_up_of=call)
    assert follow_up.due_on == dt.date(2026, 11, 30)  # five business days later
    anniversary.refresh_from_db()
    assert (anniversary.status, anniversary.hold_reason) == ("held", "customer at risk: quiet period")
    customer.refresh_from_db()
    assert customer.quiet_until == dt.date(2026, 12, 23)


def test_the_alert_goes_to_the_lead_once(manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from campaigns.services.alerts import send_at_risk_alert

    call = planned_call(manager)
    log(call, "at_risk", manager)

    assert send_at_risk_alert(touchpoint_id=call.pk) is True
    assert send_at_risk_alert(touchpoint_id=call.pk) is False
    [message] = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "lena@example.com"]
    assert "Ada Lovelace is at risk" in message.subject


def test_the_planner_holds_celebratory_cards_in_a_quiet_period(manager):
    customer = Customer.objects.create(
        first_name="Ada", last_name="L", time_zone="UTC", quiet_until=dt.date(2027, 1, 1)
    )
    Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=dt.date(2025, 12, 10)
    )
    planning.plan(now=MONDAY)
    card = Touchpoint.objects.get(customer=customer, rule__slug="anniversary-card")
    assert (card.status, card.hold_reason) == ("held", "customer at risk: quiet period")


def test_a_contact_moves_the_last_contact_milestone_and_restarts_its_cadence(manager):
    stay = Cadence.objects.get(name="Stay in touch")
    stay.active = True
    stay.save()
    Rule.objects.filter(slug="check-in-after-contact").update(offset_amount=1)  # inside the planning horizon
    call = planned_call(manager)

    log(call, "reached", manager)
    planning.plan_customers([call.customer_id], now=MONDAY)

    last = Milestone.objects.get(customer=call.customer, kind__slug="last_contact")
    assert last.date == dt.date(2026, 11, 23)
    check_in = Touchpoint.objects.get(customer=call.customer, rule__slug="check-in-after-contact", status="pending")
    assert check_in.occurs_on == dt.date(2026, 12, 23)

    # A later contact restarts the clock: the old check-in is cancelled, a new one planned.
    follow = Touchpoint.objects.create(
        customer=call.customer,
        rule=call.rule,
        milestone=call.milestone,
        milestone_date=call.milestone_date,
        occurs_on=dt.date(2026, 12, 1),
        due_on=dt.date(2026, 12, 1),
        kind="call",
        follow_up_of=call,
        attempt=1,
    )
    log(follow, "reached", manager, now=MONDAY + dt.timedelta(days=8))
    planning.plan_customers([call.customer_id], now=MONDAY + dt.timedelta(days=8))
    check_in.refresh_from_db()
    assert (check_in.status, check_in.cancel_reason) == ("cancelled", "milestone date changed")
    assert Touchpoint.objects.get(rule__slug="check-in-after-contact", status="pending").occurs_on == dt.date(
        2027, 1, 1
    )


@override_settings(NURTURE_FREQUENCY_CAP=(2, 30))
def test_the_frequency_cap_holds_what_does_not_fit_with_the_reason():
    customer = Customer.objects.create(first_name="Ada", last_name="L", time_zone="UTC")
    kinds = MilestoneKind.objects
    # Four touchpoints within a month: welcome call, six-month card, anniversary card, placement card.
    Milestone.objects.create(customer=customer, kind=kinds.get(slug="became_customer"), date=dt.date(2026, 11, 20))
    Milestone.objects.create(customer=customer, kind=kinds.get(slug="became_customer"), date=dt.date(2026, 6, 10))
    Milestone.objects.create(customer=customer, kind=kinds.get(slug="job_placement"), date=dt.date(2026, 12, 1))

    planning.plan(now=MONDAY)

    live = list(Touchpoint.objects.filter(customer=customer).order_by("due_on").values_list("status", "hold_reason"))
    statuses = [status for status, _ in live]
    assert statuses.count("pending") == 2
    assert statuses[:2] == ["pending", "pending"]
    assert {reason for status, reason in live if status == "held"} == {
        "frequency cap: at most 2 touchpoints in 30 days"
    }
    # Planning again holds nothing new and creates nothing twice.
    assert planning.plan(now=MONDAY).created == 0
    assert (
        list(Touchpoint.objects.filter(customer=customer).order_by("due_on").values_list("status", "hold_reason"))
        == live
    )


def test_held_touchpoints_are_cancelled_when_their_basis_goes():
    customer = Customer.objects.create(
        first_name="Ada", last_name="L", time_zone="UTC", quiet_until=dt.date(2027, 1, 1)
    )
    Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=dt.date(2025, 12, 10)
    )
    planning.plan(now=MONDAY)
    customer.status = Customer.Status.CHURNED
    customer.save()
    planning.plan_customers([customer.pk], now=MONDAY)
    assert Touchpoint.objects.get(customer=customer).status == "cancelled"


def test_the_frequency_cap_setting_is_parsed_loudly(monkeypatch):
    from config.env import ImproperEnvironment, env_ratio

    monkeypatch.setenv("CAP", "3/30")
    assert env_ratio("CAP") == (3, 30)
    monkeypatch.setenv("CAP", "three")
    with pytest.raises(ImproperEnvironment, match="CAP='three' must look like N/M"):
        env_ratio("CAP")
    monkeypatch.setenv("CAP", "")
    assert env_ratio("CAP") is None
