import datetime as dt

import pytest
from django.urls import reverse
from icalendar import Calendar

from campaigns.models import Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.services.calendar_feeds import feed_for, feed_reset

pytestmark = pytest.mark.django_db


def call_for(manager, name: str, due_on: dt.date) -> Touchpoint:
    customer = Customer.objects.create(first_name=name, last_name="Test", account_manager=manager, phone="+44 1")
    milestone = Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=due_on
    )
    return Touchpoint.objects.create(
        customer=customer,
        rule=Rule.objects.get(slug="welcome-call"),
        milestone=milestone,
        milestone_date=milestone.date,
        occurs_on=due_on,
        due_on=due_on,
        kind="call",
        assignee=manager,
    )


def events(response) -> list:
    assert response["Content-Type"].startswith("text/calendar")
    return list(Calendar.from_ical(response.content).walk("VEVENT"))


def test_the_feed_lists_my_upcoming_calls_and_nobody_elses(client, alice, bob):
    today = dt.date.today()
    mine = call_for(alice, "Ada", today + dt.timedelta(days=2))
    call_for(bob, "Grace", today + dt.timedelta(days=2))
    done = call_for(alice, "Done", today)
    Touchpoint.objects.filter(pk=done.pk).update(status="done", outcome="reached")

    response = client.get(reverse("calendar-feed", args=[feed_for(user=alice).token]))

    assert response.status_code == 200
    [event] = events(response)
    assert str(event["summary"]) == "Call Ada Test: Welcome call"
    assert event["dtstart"].dt == mine.due_on
    assert str(event["uid"]) == f"touchpoint-{mine.pk}@nurture"
    assert "+44 1" in str(event["description"])


def test_resetting_the_token_revokes_the_old_url(client, alice):
    old = feed_for(user=alice).token

    new = feed_reset(user=alice).token

    assert new != old
    assert client.get(reverse("calendar-feed", args=[old])).status_code == 404
    assert client.get(reverse("calendar-feed", args=[new])).status_code == 200


def test_an_unknown_token_or_an_inactive_user_gets_404(client, alice):
    token = feed_for(user=alice).token
    assert client.get(reverse("calendar-feed", args=["nope"])).status_code == 404
    alice.is_active = False
    alice.save()
    assert client.get(reverse("calendar-feed", args=[token])).status_code == 404


def test_a_customer_reassigned_away_leaves_my_feed(client, alice, bob):
    call = call_for(alice, "Ada", dt.date.today() + dt.timedelta(days=1))
    Customer.objects.filter(pk=call.customer_id).update(account_manager=bob)

    response = client.get(reverse("calendar-feed", args=[feed_for(user=alice).token]))

    assert events(response) == []
