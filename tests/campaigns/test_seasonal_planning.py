"""Seasonal cadences in the planner: date anchors, segments, idempotency and concurrency
(docs/calendar-rules.md, rule 7), on PostgreSQL or the embedded SQLite, whichever is configured."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils.text import slugify

from campaigns.models import Cadence, Card, CardDesign, PlannerRun, Rule, Touchpoint
from campaigns.services import planning
from campaigns.services.cards import cards_follow_touchpoints
from nurture.lib import calendar
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Tag
from tests.campaigns.test_planning import milestone
from tests.factories import live_duplicates
from tests.support.concurrency import at_once

UTC = dt.UTC
NOV_23 = dt.date(2026, 11, 23)  # a Monday, before Thanksgiving (26 Nov) and 1 December

pytestmark = pytest.mark.django_db


def at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


def customer(**fields: object) -> Customer:
    defaults: dict[str, object] = {"first_name": "Ada", "last_name": "Lovelace", "country": "US", "time_zone": "UTC"}
    defaults.update(fields)
    return Customer.objects.create(**defaults)


def seasonal(
    name: str = "Season's greetings",
    *,
    anchor: str = "annual",
    month: int | None = 12,
    day: int | None = 1,
    on: dt.date | None = None,
    holiday: str = "",
    action: str = "card",
    lead: int = 3,
    offset: int = 0,
    tags: list[Tag] | None = None,
    **segment: object,
) -> Rule:
    if anchor != "annual":
        month = day = None
    cadence = Cadence.objects.create(
        name=name,
        anchor=anchor,
        anchor_month=month,
        anchor_day=day,
        anchor_date=on,
        anchor_holiday=holiday,
        **segment,
    )
    if tags:
        cadence.tags.set(tags)
    return Rule.objects.create(
        cadence=cadence,
        slug=slugify(name),
        name=name,
        action=action,
        card_lead_days=lead,
        offset_amount=offset,
        offset_unit="days",
        business_day_policy="next",
    )


def planned(rule: Rule) -> dict[int, Touchpoint]:
    return {t.customer_id: t for t in Touchpoint.objects.filter(rule=rule).exclude(status="cancelled")}


def test_an_annual_date_reaches_every_active_customer_mailed_by_their_own_business_days():
    rule = seasonal()
    us = customer(country="US", region="CA")
    gb = customer(country="GB")
    none = customer(country="")
    paused = customer(status="paused")
    do_not_contact = customer(status="do_not_contact")

    result = planning.plan(now=at(NOV_23))

    touchpoints = planned(rule)
    assert set(touchpoints) == {us.pk, gb.pk, none.pk}
    assert paused.pk not in touchpoints and do_not_contact.pk not in touchpoints
    for c in (us, gb, none):
        t = touchpoints[c.pk]
        assert (t.occurs_on, t.season, t.milestone_id, t.milestone_date) == (
            dt.date(2026, 12, 1),
            2026,
            None,
            t.occurs_on,
        )
        assert t.due_on == calendar.card_due_on(t.occurs_on, 3, c.country, c.region)
        assert t.kind == "card" and t.status == "pending"
    # Thanksgiving and the day after (California) push the US mail-by date back past the British one.
    assert touchpoints[us.pk].due_on < touchpoints[gb.pk].due_on
    assert result.created == 3


def test_a_named_holiday_reaches_each_country_on_its_own_date_and_skips_countries_without_it():
    rule = seasonal("Thanksgiving", anchor="holiday", holiday="Thanksgiving")
    us, gb = customer(country="US"), customer(country="GB")

    planning.plan(now=at(dt.date(2026, 11, 1)))

    touchpoints = planned(rule)
    assert set(touchpoints) == {us.pk}
    assert touchpoints[us.pk].occurs_on == calendar.holiday_date("Thanksgiving Day", 2026, "US")
    assert gb.pk not in touchpoints


def test_a_lunar_new_year_under_several_names_reaches_the_countries_that_keep_it():
    rule = seasonal(
        "Lunar New Year", anchor="holiday", holiday="Chinese New Year; Lunar New Year; Korean New Year", lead=5
    )
    keepers = {country: customer(country=country) for country in ("CN", "SG", "VN", "KR")}
    others = [customer(country="US"), customer(country="DE")]

    planning.plan(now=at(dt.date(2026, 1, 20)))

    touchpoints = planned(rule)
    assert set(touchpoints) == {c.pk for c in keepers.values()}
    for country, c in keepers.items():
        t = touchpoints[c.pk]
        expected = calendar.holiday_date(rule.cadence.anchor_holiday, 2026, country)
        assert t.occurs_on == expected
        assert t.due_on == calendar.card_due_on(expected, 5, country)
    assert not any(c.pk in touchpoints for c in others)


def test_once_on_a_date_plans_that_date_and_nothing_after_it():
    rule = seasonal("Launch", anchor="once", on=dt.date(2026, 12, 10))
    c = customer()
    planning.plan(now=at(NOV_23))
    assert [t.occurs_on for t in planned(rule).values()] == [dt.date(2026, 12, 10)]

    planning.plan(now=at(dt.date(2027, 11, 23)))
    planning.plan(now=at(dt.date(2028, 11, 23)))
    assert Touchpoint.objects.filter(rule=rule, customer=c).count() == 1


def test_an_annual_date_comes_back_every_year_once_per_season():
    rule = seasonal()
    c = customer(country="GB")
    planning.plan(now=at(NOV_23))
    planning.plan(now=at(dt.date(2027, 11, 23)))
    assert sorted(Touchpoint.objects.filter(rule=rule, customer=c).values_list("season", "occurs_on")) == [
        (2026, dt.date(2026, 12, 1)),
        (2027, dt.date(2027, 12, 1)),
    ]


def test_new_year_cards_mailed_in_december_belong_to_the_next_season():
    rule = seasonal("Happy new year", month=1, day=1, lead=5)
    c = customer(country="DE")
    planning.plan(now=at(dt.date(2026, 12, 20)))
    [t] = planned(rule).values()
    assert (t.season, t.occurs_on) == (2027, dt.date(2027, 1, 1))
    assert t.due_on.year == 2026  # mailed before the year ends
    assert t.customer_id == c.pk


@pytest.mark.parametrize(("policy", "expected"), [("feb28", dt.date(2027, 2, 28)), ("mar1", dt.date(2027, 3, 1))])
def test_a_29_february_anchor_follows_the_leap_day_setting(policy, expected):
    rule = seasonal("Leap day", month=2, day=29)
    customer(country="")
    with override_settings(NURTURE_LEAP_DAY=policy):
        planning.plan(now=at(dt.date(2027, 2, 1)))
    assert [t.occurs_on for t in planned(rule).values()] == [expected]


def test_a_segment_limits_by_tags_tiers_and_countries_and_excludes_customers():
    vip, press = Tag.objects.create(slug="vip", name="VIP"), Tag.objects.create(slug="press", name="Press")
    rule = seasonal(tags=[vip, press], tiers="gold,gold_plus", countries="US,CA")
    fits = customer(tier="gold")
    fits.tags.add(vip)
    fits_too = customer(tier="gold_plus", country="CA")
    fits_too.tags.add(press)
    excluded = customer(tier="gold")
    excluded.tags.add(vip)
    rule.cadence.excluded_customers.add(excluded)
    wrong_tier = customer(tier="gold-plus")  # "_" is LIKE's wildcard: it must not match "gold_plus"
    wrong_tier.tags.add(vip)
    no_tier = customer(tier="")
    no_tier.tags.add(vip)
    wrong_country = customer(tier="gold", country="GB")
    wrong_country.tags.add(vip)
    untagged = customer(tier="gold")

    planning.plan(now=at(NOV_23))

    assert set(planned(rule)) == {fits.pk, fits_too.pk}
    # The ORM's statement of the segment (the preview's) agrees with the planner's SQL.
    assert set(Customer.objects.filter(rule.cadence.segment_q()).values_list("pk", flat=True)) == {
        fits.pk,
        fits_too.pk,
    }
    assert untagged.pk not in planned(rule)


def test_a_customer_leaving_the_segment_has_the_pending_touchpoint_cancelled():
    rule = seasonal(tiers="gold")
    c = customer(tier="gold")
    other = customer(tier="gold")
    planning.plan(now=at(NOV_23))
    assert set(planned(rule)) == {c.pk, other.pk}

    c.tier = "silver"
    c.save()
    rule.cadence.excluded_customers.add(other)
    planning.plan_customers([c.pk, other.pk], now=at(NOV_23, 1))

    reasons = set(Touchpoint.objects.filter(rule=rule).values_list("status", "cancel_reason"))
    assert reasons == {("cancelled", "customer left the segment")}


def test_do_not_contact_cancels_a_seasonal_touchpoint():
    rule = seasonal()
    c = customer()
    planning.plan(now=at(NOV_23))
    c.status = "do_not_contact"
    c.save()
    planning.plan_customers([c.pk], now=at(NOV_23, 1))
    assert Touchpoint.objects.get(rule=rule).cancel_reason == "customer is do-not-contact"


def test_moving_the_date_cancels_the_pending_touchpoints_and_plans_the_new_date():
    rule = seasonal()
    c = customer(country="GB")
    planning.plan(now=at(NOV_23))
    cadence = Cadence.objects.get(pk=rule.cadence_id)
    cadence.anchor_day = 8
    cadence.save()

    planning.plan(now=at(NOV_23, 6))

    rows = set(Touchpoint.objects.filter(rule=rule, customer=c).values_list("occurs_on", "status", "cancel_reason"))
    assert rows == {(dt.date(2026, 12, 1), "cancelled", "rule edited"), (dt.date(2026, 12, 8), "pending", "")}
    assert live_duplicates() == 0


def test_a_rule_saved_after_its_cadence_moved_keeps_the_new_version():
    rule = seasonal()
    c = customer(country="GB")
    planning.plan(now=at(NOV_23))
    loaded = Rule.objects.get(pk=rule.pk)  # as the admin's inline loads it, before the cadence is saved
    cadence = Cadence.objects.get(pk=rule.cadence_id)
    cadence.anchor_day = 8
    cadence.save()
    loaded.message_template = "Warm wishes, {{ first_name }}"
    loaded.save()

    planning.plan(now=at(NOV_23, 6))

    assert [t.occurs_on for t in planned(rule).values()] == [dt.date(2026, 12, 8)]
    assert c.pk in planned(rule)


def test_a_new_seasonal_cadence_plans_for_everyone_in_the_next_sweep_even_inside_a_covered_window():
    c = customer(country="GB")
    planning.plan(now=at(NOV_23))
    rule = seasonal()  # created after the sweep covered 1 December
    planning.plan(now=at(NOV_23, 6))
    assert set(planned(rule)) == {c.pk}


def test_a_customer_added_after_the_sweep_is_planned_by_the_next_one():
    rule = seasonal()
    customer(country="GB")
    planning.plan(now=at(NOV_23))
    newcomer = customer(country="GB", first_name="New")
    planning.plan(now=at(dt.date(2026, 11, 24)))
    assert newcomer.pk in planned(rule)


@override_settings(NURTURE_FREQUENCY_CAP=(1, 30))
def test_the_frequency_cap_and_quiet_periods_hold_seasonal_touchpoints():
    first = seasonal("First", day=1)
    second = seasonal("Second", day=8)
    capped = customer(country="GB")
    quiet = customer(country="GB", quiet_until=dt.date(2027, 1, 31))

    planning.plan(now=at(NOV_23))

    assert Touchpoint.objects.get(rule=first, customer=capped).status == "pending"
    held = Touchpoint.objects.get(rule=second, customer=capped)
    assert (held.status, held.hold_reason.startswith("frequency cap")) == ("held", True)
    assert set(Touchpoint.objects.filter(customer=quiet).values_list("status", flat=True)) == {"held"}


def test_milestone_cadences_can_be_limited_to_tiers_too():
    cadence = Rule.objects.get(slug="welcome-call").cadence
    cadence.tiers = "gold"
    cadence.save()
    gold, plain = customer(tier="gold"), customer()
    for c in (gold, plain):
        milestone(c, NOV_23 - dt.timedelta(days=7))
    planning.plan(now=at(NOV_23))
    assert set(Touchpoint.objects.filter(rule__slug="welcome-call").values_list("customer", flat=True)) == {gold.pk}


def test_planning_seasonal_rules_twice_and_chunks_out_of_order_creates_nothing_twice():
    rules = [seasonal(), seasonal("Thanksgiving", anchor="holiday", holiday="Thanksgiving")]
    for i in range(9):
        customer(first_name=f"C{i}", country=["US", "GB", "DE"][i % 3])
    with override_settings(NURTURE_PLAN_CHUNK_SIZE=2):
        run = planning.start_sweep(now=at(dt.date(2026, 11, 1)))
    for index in reversed(range(run.chunk_count)):
        planning.run_chunk(run_id=run.pk, index=index)
    created = Touchpoint.objects.count()
    for index in range(run.chunk_count):
        assert planning.run_chunk(run_id=run.pk, index=index) == (0, 0)
    assert planning.plan(now=at(dt.date(2026, 11, 1), 12)).created == 0
    assert created == Touchpoint.objects.filter(rule__in=rules).count() == 9 + 3
    assert live_duplicates() == 0


def test_the_database_refuses_a_second_live_touchpoint_of_a_season():
    rule = seasonal()
    c = customer()
    planning.plan(now=at(NOV_23))
    t = Touchpoint.objects.get(rule=rule)
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(
            customer=c,
            rule=rule,
            season=t.season,
            milestone_date=t.milestone_date,
            occurs_on=t.occurs_on + dt.timedelta(days=1),
            due_on=t.due_on,
            kind="card",
        )


@pytest.mark.django_db(transaction=True)
def test_two_planners_at_once_create_every_seasonal_touchpoint_exactly_once():
    seasonal()
    seasonal("Thanksgiving", anchor="holiday", holiday="Thanksgiving", action="call")
    for i in range(30):
        customer(first_name=f"C{i}", country=["US", "GB", "CA"][i % 3])

    def sweep() -> None:
        with override_settings(NURTURE_PLAN_CHUNK_SIZE=4):
            planning.plan(now=at(dt.date(2026, 11, 1)))

    at_once(sweep, sweep)
    assert live_duplicates() == 0
    assert Touchpoint.objects.filter(season=2026).count() == 30 + 10
    assert planning.plan(now=at(dt.date(2026, 11, 1))).created == 0
    assert PlannerRun.objects.filter(finished_at__isnull=False).count() == 3


def test_a_seasonal_card_is_drafted_with_its_message_and_the_customers_address():
    rule = seasonal()
    rule.card_design = CardDesign.objects.order_by("pk").first()
    rule.message_template = "Season's greetings, {{ first_name }}! ({{ milestone_date }})"
    rule.save()
    c = customer(country="GB", first_name="Grace", address_line1="1 High Street", city="Bath")
    planning.plan(now=at(NOV_23))

    assert cards_follow_touchpoints(today=NOV_23, scope=CustomerScope.of([c.pk])) == (0, 1)

    card = Card.objects.get(touchpoint__rule=rule)
    assert card.message == "Season's greetings, Grace! (1 December 2026)"
    assert card.touchpoint.customer_id == c.pk
