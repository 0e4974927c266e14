"""The customer's journey: milestones and touchpoints on one axis, past and planned."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from campaigns.models import Activity
from campaigns.selectors import journey as journey_module
from campaigns.selectors.journey import PLOT_LEFT, PLOT_RIGHT, customer_journey
from nurture.models import Milestone, MilestoneKind
from tests.factories import make_customer, make_rule, make_touchpoint

D = dt.date

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("at_noon_utc")]


def done(touchpoint, outcome, when):
    touchpoint.status = "done"
    touchpoint.outcome = outcome
    touchpoint.completed_at = dt.datetime.combine(when, dt.time(10), tzinfo=dt.UTC)
    touchpoint.save()
    return touchpoint


def by_touchpoint(journey):
    return {event.touchpoint_id: event for event in journey.events if event.touchpoint_id}


def test_past_touchpoints_have_their_outcome_and_planned_ones_are_planned():
    customer = make_customer()
    rule = make_rule(name="Check-in")
    reached = done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 1, 10)), "reached", D(2025, 1, 10))
    no_answer = done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 2, 10)), "no_answer", D(2025, 2, 11))
    overdue = make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, 3))
    planned = make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 4, 1))
    skipped = make_touchpoint(
        customer=customer, rule=rule, due_on=D(2025, 2, 20), status="skipped", skip_reason="on holiday"
    )
    mailed = make_touchpoint(customer=customer, due_on=D(2025, 2, 1), kind="card", status="done")
    make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, 5), status="cancelled", cancel_reason="rule edited")

    journey = customer_journey(customer=customer)

    events = by_touchpoint(journey)
    assert {pk: (e.state, e.past) for pk, e in events.items()} == {
        reached.pk: ("reached", True),
        no_answer.pk: ("no_answer", True),
        overdue.pk: ("overdue", False),
        planned.pk: ("planned", False),
        skipped.pk: ("skipped", True),
        mailed.pk: ("mailed", True),
    }
    assert events[skipped.pk].detail == "Skipped: on holiday"
    assert events[overdue.pk].detail == "Overdue since 2025-03-03"
    assert events[no_answer.pk].date == D(2025, 2, 11)  # where it happened, not when it was due
    assert (events[mailed.pk].lane, events[reached.pk].lane) == ("card", "call")
    assert journey.touchpoints_total == 6


def test_events_lie_on_the_axis_in_date_order_around_today():
    customer = make_customer()
    rule = make_rule()
    days = [D(2024, 11, 1), D(2025, 1, 15), D(2025, 5, 30)]
    for day in days:
        make_touchpoint(customer=customer, rule=rule, due_on=day)

    journey = customer_journey(customer=customer)

    xs = [event.x for event in journey.events if event.touchpoint_id]
    assert xs == sorted(xs)
    assert PLOT_LEFT < xs[0] < xs[1] < journey.today_x < xs[2] < PLOT_RIGHT
    assert journey.start < days[0] and journey.end > days[-1]
    assert [tick.x for tick in journey.ticks] == sorted(tick.x for tick in journey.ticks)
    assert 3 <= len(journey.ticks) <= 10


def test_today_is_the_customers_today():
    # 12:00 UTC on 10 March is already 11 March on Kiritimati.
    customer = make_customer(time_zone="Pacific/Kiritimati")
    touchpoint = make_touchpoint(customer=customer, due_on=D(2025, 3, 10))

    journey = customer_journey(customer=customer)

    assert journey.today == D(2025, 3, 11)
    assert by_touchpoint(journey)[touchpoint.pk].state == "overdue"


def test_a_milestone_long_before_the_touchpoints_is_pinned_to_the_edge():
    customer = make_customer()
    birthday = Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="birthday"), date=D(1980, 5, 2)
    )
    make_touchpoint(customer=customer, due_on=D(2025, 3, 1))

    journey = customer_journey(customer=customer)

    pinned = next(event for event in journey.events if event.milestone_id == birthday.pk)
    assert pinned.pinned and pinned.x == PLOT_LEFT
    assert journey.start.year == 2025 or journey.start.year == 2024
    assert journey.has_pinned


def test_a_new_customers_short_story_still_spans_a_readable_axis():
    customer = make_customer()
    make_touchpoint(customer=customer, due_on=D(2025, 3, 12))

    journey = customer_journey(customer=customer)

    assert (journey.end - journey.start).days >= journey_module.MIN_SPAN_DAYS


def test_events_on_the_same_day_are_nudged_apart():
    customer = make_customer()
    first = make_touchpoint(customer=customer, due_on=D(2025, 3, 20))
    second = make_touchpoint(customer=customer, due_on=D(2025, 3, 20))

    events = by_touchpoint(customer_journey(customer=customer))

    assert events[first.pk].x == events[second.pk].x
    assert events[first.pk].y != events[second.pk].y


def test_only_the_latest_touchpoints_are_drawn_but_the_summary_counts_them_all(monkeypatch):
    monkeypatch.setattr(journey_module, "TOUCHPOINTS_SHOWN", 3)
    customer = make_customer()
    rule = make_rule()
    for day in range(1, 6):
        done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 1, day)), "voicemail", D(2025, 1, day))
    make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, 1))
    make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, 20))

    journey = customer_journey(customer=customer)

    assert (journey.touchpoints_shown, journey.touchpoints_total, journey.truncated) == (3, 7, True)
    assert [e.date for e in journey.events if e.touchpoint_id] == [D(2025, 1, 5), D(2025, 3, 1), D(2025, 3, 20)]
    summary = journey.summary
    assert (summary.calls_done, summary.voicemail, summary.planned, summary.overdue) == (5, 5, 1, 1)


def test_lately_and_coming_up():
    customer = make_customer()
    rule = make_rule()
    old = done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 1, 1)), "reached", D(2025, 1, 1))
    new = done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 2, 1)), "reached", D(2025, 2, 1))
    soon = make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, 12))

    journey = customer_journey(customer=customer)

    recent_touchpoints = [e.touchpoint_id for e in journey.recent if e.touchpoint_id]
    assert recent_touchpoints[:2] == [new.pk, old.pk]
    assert [e.touchpoint_id for e in journey.upcoming] == [soon.pk]


# --- On the customer page ------------------------------------------------------------------------


def test_the_customer_page_draws_the_journey(alice, alice_client):
    customer = make_customer(account_manager=alice)
    reached = done(make_touchpoint(customer=customer, due_on=D(2025, 2, 1)), "reached", D(2025, 2, 1))
    planned = make_touchpoint(customer=customer, due_on=D(2025, 4, 1))

    html = alice_client.get(reverse("admin:nurture_customer_change", args=[customer.pk])).content.decode()

    assert '<svg viewBox="0 0 960 228"' in html
    assert f'data-state="reached" data-date="2025-02-01" data-touchpoint="{reached.pk}"' in html
    assert f'data-state="planned" data-date="2025-04-01" data-touchpoint="{planned.pk}"' in html
    # Coordinates are plain numbers whatever the locale.
    for value in re.findall(r"translate\(([^)]*)\)", html):
        assert "," not in value
    # The journey sits above the inlines.
    assert html.index('id="journey"') < html.index('id="touchpoints-group"')


def test_the_journey_needs_a_fixed_number_of_queries(django_assert_num_queries):
    customer = make_customer()
    rule = make_rule()
    for day in range(1, 12):
        done(make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 2, day)), "reached", D(2025, 2, day))
        make_touchpoint(customer=customer, due_on=D(2025, 4, day), kind="card")
        make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 3, day))

    # Touchpoints (with rule, card, milestone kind and who did them), milestones, activities, the
    # summary, overdue.
    with django_assert_num_queries(5):
        journey = customer_journey(customer=customer)

    assert len(journey.events) == 33 + 33


def test_there_is_no_journey_on_the_add_page(superuser_client):
    response = superuser_client.get(reverse("admin:nurture_customer_add"))

    assert response.status_code == 200
    assert 'id="journey"' not in response.content.decode()


def test_activities_from_other_channels_have_a_lane_of_their_own(alice_client, alice):
    customer = make_customer(account_manager=alice, time_zone="Europe/Berlin")
    meeting = Activity.objects.create(
        customer=customer,
        channel="meeting",
        occurred_at=dt.datetime(2025, 2, 28, 23, 30, tzinfo=dt.UTC),
        subject="Quarterly review",
        source="HubSpot",
    )
    Activity.objects.create(
        customer=customer, channel="nps", occurred_at=dt.datetime(2025, 3, 2, 9, tzinfo=dt.UTC), score=9
    )

    journey = customer_journey(customer=customer, now=dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC))

    lane = [event for event in journey.events if event.lane == "activity"]
    # The day is the customer's: 23:30 UTC on 28 February is 1 March in Berlin.
    assert [(e.date, e.title, e.detail) for e in lane] == [
        (D(2025, 3, 1), "Meeting", "Quarterly review (from HubSpot)"),
        (D(2025, 3, 2), "NPS response", "No subject, score 9"),
    ]
    assert lane[0].activity_id == meeting.pk and all(e.past for e in lane)
    html = alice_client.get(reverse("admin:nurture_customer_change", args=[customer.pk])).content.decode()
    assert f'data-activity="{meeting.pk}"' in html and "Quarterly review" in html
