"""The planner against the database (PostgreSQL or the embedded SQLite, whichever is configured)."""

import datetime as dt
import zoneinfo

import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns.models import PlannerRun, PlanSlot, Rule, Touchpoint
from campaigns.services import planning
from nurture.models import Customer, Milestone, MilestoneKind, Tag
from tests.factories import live_duplicates
from tests.support.concurrency import at_once

UTC = dt.UTC
D = dt.date(2026, 11, 23)  # a Monday


def at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


def customer(**fields: object) -> Customer:
    defaults: dict[str, object] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "country": "US",
        "region": "CA",
        "time_zone": "America/Los_Angeles",
    }
    defaults.update(fields)
    return Customer.objects.create(**defaults)


def milestone(c: Customer, day: dt.date, kind: str = "became_customer") -> Milestone:
    return Milestone.objects.create(customer=c, kind=MilestoneKind.objects.get(slug=kind), date=day)


def keys(qs=None) -> list[tuple[str, dt.date, dt.date, str]]:
    qs = qs if qs is not None else Touchpoint.objects.all()
    return sorted(qs.values_list("rule__slug", "occurs_on", "due_on", "status"))


pytestmark = pytest.mark.django_db


def test_it_plans_the_default_rules_with_business_days_and_mail_by_dates():
    c = customer()
    milestone(c, dt.date(2026, 11, 12))  # welcome call falls on Thanksgiving, 26 Nov 2026
    milestone(c, dt.date(2025, 12, 4))  # anniversary card on 4 Dec 2026 (a Friday)

    result = planning.plan(now=at(D, 12))

    assert result.created == 2
    call = Touchpoint.objects.get(rule__slug="welcome-call")
    assert (call.occurs_on, call.due_on) == (dt.date(2026, 11, 26), dt.date(2026, 11, 30))  # 27 Nov too in CA
    assert call.kind == "call"
    card = Touchpoint.objects.get(rule__slug="anniversary-card")
    # Three business days before Friday 4 Dec: Tue 1 Dec.
    assert (card.occurs_on, card.due_on, card.occurrence_index) == (dt.date(2026, 12, 4), dt.date(2026, 12, 1), 0)
    assert not call.late and not card.late
    assert call.assignee_id == c.account_manager_id
    assert PlanSlot.objects.count() == 0, "a completed run cleans up its slots"


def test_planning_twice_creates_nothing_new():
    for i in range(5):
        milestone(customer(first_name=f"C{i}"), D - dt.timedelta(days=37 * i + 300))
    first = planning.plan(now=at(D))
    before = keys()

    second = planning.plan(now=at(D))
    later_same_day = planning.plan(now=at(D, 18))

    assert first.created > 0
    assert (second.created, later_same_day.created) == (0, 0)
    assert keys() == before
    assert live_duplicates() == 0


def test_chunks_can_run_twice_and_out_of_order():
    for i in range(7):
        milestone(customer(first_name=f"C{i}"), D - dt.timedelta(days=365 - 5 * i))
    with override_settings(NURTURE_PLAN_CHUNK_SIZE=2):
        run = planning.start_sweep(now=at(D))
    assert run.chunk_count >= 3
    for index in reversed(range(run.chunk_count)):
        planning.run_chunk(run_id=run.pk, index=index)
    created_once = Touchpoint.objects.count()
    for index in range(run.chunk_count):
        assert planning.run_chunk(run_id=run.pk, index=index) == (0, 0)

    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.created_count == created_once == 7
    assert Touchpoint.objects.count() == created_once


def test_a_planner_that_did_not_run_catches_up_and_marks_late():
    c = customer()
    # Monthly check-in calls on the 5th, so the gap holds one.
    rule = Rule.objects.create(
        cadence=Rule.objects.get(slug="welcome-call").cadence,
        slug="monthly-call",
        name="Monthly call",
        action="call",
        offset_amount=0,
        offset_unit="days",
        repeat_every_months=1,
    )
    milestone(c, dt.date(2025, 1, 5))
    planning.plan(now=at(D), horizon_days=3)  # covers due dates up to 26 Nov

    # Down for two weeks: the next run, on 7 Dec, plans from 27 Nov on.
    result = planning.plan(now=at(dt.date(2026, 12, 7), 12), horizon_days=3)

    calls = Touchpoint.objects.filter(rule=rule)
    assert calls.count() == 1
    dec = calls.get(occurs_on=dt.date(2026, 12, 5))  # Saturday: keep-the-date policy
    assert dec.due_on == dt.date(2026, 12, 5)
    assert dec.late is True, "created two days after it was due"
    assert result.window_start == dt.date(2026, 11, 27)
    assert live_duplicates() == 0


def test_late_is_decided_by_the_customers_own_today():
    rule = Rule.objects.get(slug="welcome-call")
    rule.business_day_policy = "none"
    rule.save()
    east = customer(country="KI", region="", time_zone="Pacific/Kiritimati")  # UTC+14
    west = customer(country="AS", region="", time_zone="Pacific/Pago_Pago")  # UTC-11
    for c in (east, west):
        milestone(c, D - dt.timedelta(days=14))  # welcome call occurs on D
    # 11:00 UTC on D: already D+1 in Kiritimati (01:00), just D in Pago Pago (00:00).
    planning.plan(now=at(D, 11), horizon_days=0)

    assert Touchpoint.objects.get(customer=east).late is True
    assert Touchpoint.objects.get(customer=west).late is False
    assert timezone.localtime(at(D, 11), zoneinfo.ZoneInfo("Pacific/Pago_Pago")).date() == D


def test_a_new_milestone_inside_a_covered_window_is_planned_by_the_next_sweep():
    planning.plan(now=at(D))
    c = customer()
    milestone(c, D - dt.timedelta(days=13))  # welcome call tomorrow: inside the covered window

    result = planning.plan(now=at(D, 1))

    assert result.created == 1
    assert Touchpoint.objects.get(customer=c).due_on == D + dt.timedelta(days=1)


def test_editing_a_milestone_date_cancels_and_replans():
    c = customer()
    m = milestone(c, D - dt.timedelta(days=7))
    planning.plan(now=at(D))
    old = Touchpoint.objects.get()

    m.date = D - dt.timedelta(days=3)
    m.save()
    result = planning.plan_customers([c.pk], now=at(D, 1))

    old.refresh_from_db()
    assert old.status == "cancelled"
    assert old.cancel_reason == "milestone date changed"
    new = Touchpoint.objects.get(status="pending")
    assert new.occurs_on == D + dt.timedelta(days=11)
    assert (result.created, result.cancelled) == (1, 1)

    # Moving it back plans the original date again; the cancelled row stays as history.
    m.date = D - dt.timedelta(days=7)
    m.save()
    planning.plan_customers([c.pk], now=at(D, 2))
    assert Touchpoint.objects.filter(occurs_on=old.occurs_on).count() == 2
    assert Touchpoint.objects.get(occurs_on=old.occurs_on, status="pending")


def test_deleting_a_milestone_cancels_pending_but_keeps_done_history():
    c = customer()
    m = milestone(c, D - dt.timedelta(days=7))
    m2 = milestone(c, D - dt.timedelta(days=10))
    planning.plan(now=at(D))
    done = Touchpoint.objects.get(milestone=m)
    Touchpoint.objects.filter(pk=done.pk).update(status="done", outcome="reached")
    pending = Touchpoint.objects.get(milestone=m2)

    m.delete()
    m2.delete()
    planning.plan(now=at(D, 1))

    done.refresh_from_db()
    pending.refresh_from_db()
    assert (done.status, done.milestone_id) == ("done", None)
    assert (pending.status, pending.cancel_reason) == ("cancelled", "milestone deleted")


@pytest.mark.parametrize("status", ["do_not_contact", "churned"])
def test_do_not_contact_and_churn_cancel_what_is_pending(status):
    c = customer()
    milestone(c, D - dt.timedelta(days=7))
    milestone(c, D - dt.timedelta(days=360))
    planning.plan(now=at(D))
    first = Touchpoint.objects.order_by("due_on")[0]
    Touchpoint.objects.filter(pk=first.pk).update(status="done", outcome="reached")

    c.status = status
    c.save()
    result = planning.plan_customers([c.pk], now=at(D, 1))

    assert result.cancelled == 1
    statuses = dict(Touchpoint.objects.values_list("pk", "status"))
    assert statuses.pop(first.pk) == "done"
    assert set(statuses.values()) == {"cancelled"}
    assert Touchpoint.objects.filter(status="cancelled")[0].cancel_reason.startswith("customer")
    # Nothing is planned again while the customer may not be contacted.
    assert planning.plan(now=at(D + dt.timedelta(days=30))).created == 0


def test_paused_customers_are_not_planned_and_keep_what_is_pending():
    c = customer()
    milestone(c, D - dt.timedelta(days=7))
    planning.plan(now=at(D))
    c.status = "paused"
    c.save()
    later = customer(status="paused")
    milestone(later, D - dt.timedelta(days=5))

    planning.plan(now=at(D, 1))

    assert Touchpoint.objects.filter(customer=c, status="pending").count() == 1
    assert not Touchpoint.objects.filter(customer=later).exists()


def test_disabling_a_rule_cancels_and_editing_it_replans():
    c = customer()
    milestone(c, D - dt.timedelta(days=7))
    milestone(c, D - dt.timedelta(days=363))
    planning.plan(now=at(D))
    card = Touchpoint.objects.get(rule__slug="anniversary-card")
    assert card.due_on == dt.date(2026, 11, 20)  # three business days before Wednesday 25 Nov

    rule = Rule.objects.get(slug="anniversary-card")
    rule.card_lead_days = 5
    rule.save()
    planning.plan(now=at(D, 1))
    card.refresh_from_db()
    assert (card.status, card.cancel_reason) == ("cancelled", "rule edited")
    replanned = Touchpoint.objects.get(rule=rule, status="pending")
    assert replanned.due_on == dt.date(2026, 11, 18)
    assert replanned.late is True and replanned.rule_version == 2

    call_rule = Rule.objects.get(slug="welcome-call")
    call_rule.active = False
    call_rule.save()
    planning.plan(now=at(D, 2))
    call = Touchpoint.objects.get(rule=call_rule)
    assert (call.status, call.cancel_reason) == ("cancelled", "rule disabled")


def test_renaming_a_rule_does_not_replan():
    c = customer()
    milestone(c, D - dt.timedelta(days=7))
    planning.plan(now=at(D))
    rule = Rule.objects.get(slug="welcome-call")
    rule.name = "Hello call"
    rule.save()

    planning.plan(now=at(D, 1))

    assert rule.version == 1
    assert list(Touchpoint.objects.values_list("status", flat=True)) == ["pending"]


def test_a_new_rule_is_planned_for_everyone_in_the_covered_window():
    c = customer()
    milestone(c, D - dt.timedelta(days=20))
    planning.plan(now=at(D))
    Rule.objects.create(
        cadence=Rule.objects.get(slug="welcome-call").cadence,
        slug="one-month-call",
        name="One month call",
        action="call",
        offset_amount=1,
        offset_unit="months",
    )

    planning.plan(now=at(D, 1))

    assert Touchpoint.objects.get(rule__slug="one-month-call").occurs_on == dt.date(2026, 12, 3)


def test_a_segment_cadence_plans_only_tagged_customers_and_cancels_when_the_tag_goes():
    vip = Tag.objects.create(slug="vip", name="VIP")
    cadence = Rule.objects.get(slug="welcome-call").cadence
    cadence.tags.add(vip)
    cadence.save()
    tagged, untagged = customer(first_name="T"), customer(first_name="U")
    tagged.tags.add(vip)
    for c in (tagged, untagged):
        milestone(c, D - dt.timedelta(days=7))

    planning.plan(now=at(D))
    assert list(Touchpoint.objects.values_list("customer", flat=True)) == [tagged.pk]

    tagged.tags.remove(vip)
    planning.plan_customers([tagged.pk], now=at(D, 1))
    assert Touchpoint.objects.get().cancel_reason == "customer left the segment"


@pytest.mark.parametrize(("policy", "expected"), [("feb28", dt.date(2027, 2, 28)), ("mar1", dt.date(2027, 3, 1))])
def test_a_29_february_milestone_follows_the_leap_day_setting(policy, expected):
    c = customer(country="", region="", time_zone="UTC")
    milestone(c, dt.date(2024, 2, 29))
    with override_settings(NURTURE_LEAP_DAY=policy):
        planning.plan(now=at(dt.date(2027, 2, 1)))
    assert Touchpoint.objects.get(rule__slug="anniversary-card").occurs_on == expected


def test_month_ends_clamp_and_never_drift():
    c = customer(country="", region="", time_zone="UTC")
    milestone(c, dt.date(2025, 8, 31))
    planning.plan(now=at(dt.date(2026, 2, 1)))
    assert Touchpoint.objects.get(rule__slug="six-month-follow-up").occurs_on == dt.date(2026, 2, 28)
    planning.plan(now=at(dt.date(2026, 8, 1)))
    assert Touchpoint.objects.get(rule__slug="anniversary-card").occurs_on == dt.date(2026, 8, 31)


def test_placement_cadence_drafts_cards_for_job_placements():
    c = customer()
    milestone(c, D + dt.timedelta(days=10), kind="job_placement")
    planning.plan(now=at(D))
    card = Touchpoint.objects.get()
    assert (card.rule.slug, card.kind, card.occurs_on) == ("placement-congrats", "card", D + dt.timedelta(days=10))


def test_the_periodic_tasks_exist_after_migrate():
    from django_celery_beat.models import PeriodicTask

    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert tasks["campaigns.tasks.plan_sweep"] is True
    assert tasks["campaigns.tasks.send_digests"] is True
    sweep = PeriodicTask.objects.get(task="campaigns.tasks.plan_sweep")
    assert (sweep.interval.every, sweep.interval.period) == (1, "hours")


def test_the_default_cadences_exist_after_migrate():
    rules = dict(Rule.objects.values_list("slug", "cadence__name"))
    assert rules == {
        "welcome-call": "Post-sale nurture",
        "six-month-follow-up": "Post-sale nurture",
        "anniversary-card": "Post-sale nurture",
        "placement-congrats": "Placement follow-through",
        "placement-six-month": "Placement follow-through",
        "check-in-after-contact": "Stay in touch",
        "referral-thank-you-card": "Referral thanks",
        "referral-thank-you-call": "Referral thanks",
        "ask-for-a-referral": "Ask for a referral",
    }
    anniversary = Rule.objects.get(slug="anniversary-card")
    assert (anniversary.offset_amount, anniversary.offset_unit, anniversary.repeat_every_months) == (12, "months", 12)


@pytest.mark.django_db(transaction=True)
def test_two_planners_at_once_create_every_touchpoint_exactly_once():
    for i in range(40):
        c = customer(first_name=f"C{i}")
        milestone(c, D - dt.timedelta(days=9 * i + 1))

    def sweep() -> None:
        with override_settings(NURTURE_PLAN_CHUNK_SIZE=5):
            planning.plan(now=at(D))

    at_once(sweep, sweep)
    assert live_duplicates() == 0
    expected = Touchpoint.objects.count()
    assert expected > 0
    assert planning.plan(now=at(D)).created == 0
    assert PlannerRun.objects.filter(finished_at__isnull=False).count() == 3


def test_open_touchpoints_follow_their_customer_to_a_new_account_manager(alice, bob):
    c = customer(account_manager=alice)
    milestone(c, D - dt.timedelta(days=7))
    milestone(c, D - dt.timedelta(days=363))
    planning.plan(now=at(D))
    done = Touchpoint.objects.order_by("due_on")[0]
    Touchpoint.objects.filter(pk=done.pk).update(status="done", outcome="reached")

    c.account_manager = bob
    c.save()
    planning.plan_customers([c.pk], now=at(D, 1))

    assignees = dict(Touchpoint.objects.values_list("pk", "assignee__username"))
    assert assignees.pop(done.pk) == "alice", "history stays with who did it"
    assert set(assignees.values()) == {"bob"}
