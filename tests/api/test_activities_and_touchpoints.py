"""/api/v1/activities and /api/v1/touchpoints: activities are contacts (last contact, frequency
cap); touchpoints are listed per owner and their outcome is logged as Today does."""

import datetime as dt
import json

import pytest
import time_machine
from django.test import override_settings

from campaigns.models import Activity, Touchpoint
from campaigns.services import planning
from nurture.models import Customer, Milestone, MilestoneKind
from tests.factories import bearer, make_api_token, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


@pytest.fixture
def auth(alice):
    return bearer(make_api_token(alice, name="Mail tool"))


def record(client, auth, **body):
    return client.post("/api/v1/activities", json.dumps(body), content_type="application/json", **auth)


def last_contact(customer):
    return list(Milestone.objects.filter(customer=customer, kind__slug="last_contact").values_list("date", flat=True))


def test_an_activity_is_recorded_once_and_moves_the_last_contact(client, alice, auth):
    customer = make_customer(account_manager=alice, external_id="A-1", time_zone="America/New_York")
    body = {
        "customer": "A-1",
        "channel": "email",
        "occurred_at": "2026-11-20T02:00:00Z",
        "subject": "Welcome pack",
        "external_id": "msg-1",
    }
    with time_machine.travel(MONDAY, tick=False):
        first = record(client, auth, **body)
        again = record(client, auth, **body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and first.json()["source"] == "Mail tool"
    assert Activity.objects.count() == 1
    # 02:00 UTC on 20 November is the 19th in New York.
    assert last_contact(customer) == [dt.date(2026, 11, 19)]
    with time_machine.travel(MONDAY, tick=False):
        record(client, auth, customer="A-1", channel="meeting", occurred_at="2026-11-10T10:00:00Z")
        record(client, auth, customer="A-1", channel="meeting", occurred_at="2026-12-10T10:00:00Z")
    # Never backwards, and a meeting booked for later is not a contact yet.
    assert last_contact(customer) == [dt.date(2026, 11, 19)]


def test_activities_are_checked_and_scoped(client, alice, bob, auth):
    make_customer(account_manager=alice, external_id="A-1")
    make_customer(account_manager=bob, external_id="B-1")
    assert record(client, auth, customer="B-1", channel="email", occurred_at="2026-11-20T10:00:00Z").status_code == 404
    bad = record(client, auth, customer="A-1", channel="nps", occurred_at="2026-11-20T10:00:00Z", score=11)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "score"]
    naive = record(client, auth, customer="A-1", channel="email", occurred_at="2026-11-20T10:00:00")
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "occurred_at"]
    fax = record(client, auth, customer="A-1", channel="fax", occurred_at="2026-11-20T10:00:00Z")
    assert fax.status_code == 422 and fax.json()["detail"][0]["loc"] == ["body", "channel"]
    assert not Activity.objects.exists()
    Activity.objects.create(customer=Customer.objects.get(external_id="B-1"), channel="email", occurred_at=MONDAY)
    assert client.get("/api/v1/activities", **auth).json()["items"] == []


@override_settings(NURTURE_FREQUENCY_CAP=(2, 30))
def test_activities_count_against_the_frequency_cap(alice):
    customer = make_customer(account_manager=alice, time_zone="UTC")
    kinds = MilestoneKind.objects
    Milestone.objects.create(customer=customer, kind=kinds.get(slug="became_customer"), date=dt.date(2026, 11, 20))
    for day in (18, 19):
        Activity.objects.create(
            customer=customer, channel="meeting", occurred_at=dt.datetime(2026, 11, day, 10, tzinfo=dt.UTC)
        )

    planning.plan(now=MONDAY)

    statuses = set(Touchpoint.objects.filter(customer=customer).values_list("status", "hold_reason"))
    assert statuses == {("held", "frequency cap: at most 2 touchpoints in 30 days")}


def test_touchpoints_are_listed_for_their_owner_and_filtered(client, alice, bob, auth):
    mine = make_touchpoint(customer=make_customer(account_manager=alice), due_on=dt.date(2026, 11, 20))
    make_touchpoint(customer=make_customer(account_manager=alice), due_on=dt.date(2026, 12, 20))
    make_touchpoint(customer=make_customer(account_manager=bob), due_on=dt.date(2026, 11, 20))
    listed = client.get("/api/v1/touchpoints?due_to=2026-11-30", **auth).json()["items"]
    assert [(t["id"], t["customer"], t["status"]) for t in listed] == [(mine.pk, mine.customer.external_id, "pending")]


def test_logging_an_outcome_works_as_today_does(client, alice, bob, auth):
    call = make_touchpoint(customer=make_customer(account_manager=alice), due_on=dt.date(2026, 11, 20))
    others = make_touchpoint(customer=make_customer(account_manager=bob), due_on=dt.date(2026, 11, 20))
    path = f"/api/v1/touchpoints/{call.pk}/outcome"
    body = json.dumps({"outcome": "reached", "notes": "Happy"})
    with time_machine.travel(MONDAY, tick=False):
        response = client.post(path, body, content_type="application/json", **auth)
        twice = client.post(path, body, content_type="application/json", **auth)
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["outcome"]) == ("done", "reached")
    call.refresh_from_db()
    assert call.completed_by == alice
    assert last_contact(call.customer) == [MONDAY.date()]
    assert twice.status_code == 409 and "already done" in twice.json()["detail"]
    hidden = client.post(f"/api/v1/touchpoints/{others.pk}/outcome", body, content_type="application/json", **auth)
    assert hidden.status_code == 404
    reader = bearer(make_api_token(alice, scopes=["touchpoints:read"]))
    assert client.post(path, body, content_type="application/json", **reader).status_code == 403
