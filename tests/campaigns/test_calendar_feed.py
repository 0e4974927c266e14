import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from icalendar import Calendar

from campaigns.models import Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.roles import ACCOUNT_MANAGERS
from nurture.services.calendar_feeds import feed_for, feed_reset
from tests.factories import make_user

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


def feed_status(client, user) -> int:
    return client.get(reverse("calendar-feed", args=[feed_for(user=user).token])).status_code


def test_it_stops_answering_when_the_owner_loses_staff_status(client, alice):
    assert feed_status(client, alice) == 200
    alice.is_staff = False
    alice.save()

    assert feed_status(client, alice) == 404


def test_it_stops_answering_when_the_owner_loses_the_permission_to_see_calls(client, alice):
    assert feed_status(client, alice) == 200
    alice.user_permissions.remove(
        Permission.objects.get(content_type__app_label="campaigns", codename="view_touchpoint")
    )
    alice = type(alice).objects.get(pk=alice.pk)  # a fresh user: permissions are cached per object

    assert feed_status(client, alice) == 404


def test_it_answers_through_the_role_and_stops_when_the_role_is_taken_away(client):
    dora = make_user("dora", groups=[ACCOUNT_MANAGERS])
    assert feed_status(client, dora) == 200
    dora.groups.remove(Group.objects.get(name=ACCOUNT_MANAGERS))

    assert feed_status(client, dora) == 404


def test_it_answers_a_superuser_and_not_a_staff_user_without_a_role(client, superuser):
    assert feed_status(client, superuser) == 200
    assert feed_status(client, make_user("nobody")) == 404
