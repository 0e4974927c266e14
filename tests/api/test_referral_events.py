"""referral.converted: the event creates the referred customer and a Referral; the guards refuse
the event naming its field; the milestone comes when the referral qualifies."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from campaigns.services.events_in import EventInput, events_apply
from nurture.models import Customer, Milestone, Referral
from nurture.services.customers import CustomerInput
from tests.factories import bearer, make_api_token, make_customer

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def auth(alice):
    return bearer(make_api_token(alice, name="CRM"))


def send(client, body, auth, key="key-1"):
    path = "/api/v1/events/batch" if "events" in body else "/api/v1/events"
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **auth)


def referral(customer, referrer="REF-1", **fields):
    return {
        "type": "referral.converted",
        "customer": {"external_id": customer, "first_name": "Grace", "last_name": "Hopper", **fields},
        "referrer_external_id": referrer,
    }


def test_the_event_creates_a_referral_that_qualifies_after_the_review_period(client, alice, auth, settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 7
    referrer = make_customer(account_manager=alice, external_id="REF-1")
    with time_machine.travel(NOW, tick=False):
        response = send(client, referral("NEW-1"), auth)
    assert response.status_code == 202, response.content
    [event] = response.json()["events"]
    assert event["customer_created"] and event["referral_status"] == "pending"
    stored = Referral.objects.get(pk=event["referral_id"])
    assert (stored.referrer, stored.referred.external_id) == (referrer, "NEW-1")
    assert (stored.source, stored.source_name, stored.qualifies_on) == ("api", "CRM", dt.date(2026, 11, 9))
    assert not Milestone.objects.filter(customer=referrer).exists()


def test_each_guard_refuses_the_event_and_names_the_field(client, alice, auth):
    make_customer(account_manager=alice, external_id="REF-1", email="ref@example.com")
    make_customer(account_manager=alice, external_id="OLD-1", phone="+1 555 0100")
    make_customer(account_manager=alice, external_id="OTHER-1")
    cases = [
        (referral("NEW-1", referrer=""), "referrer_external_id", "required"),
        (referral("REF-1"), "referrer_external_id", "cannot refer themselves"),
        (referral("NEW-1", referrer="NOBODY"), "referrer_external_id", "no customer 'NOBODY'"),
        (referral("OLD-1"), "customer.external_id", "was already a customer"),
        (referral("NEW-1", email="REF@example.com"), "customer.email", "e-mail address"),
        (referral("NEW-1", phone="+1 (555) 0100"), "customer.phone", "phone number"),
    ]
    for number, (body, field, words) in enumerate(cases):
        response = send(client, body, auth, key=f"k{number}")
        assert response.status_code == 422, (field, response.content)
        [problem] = response.json()["detail"]
        assert problem["loc"][-1] == field.split(".")[-1] and words in problem["msg"], problem
    assert not Referral.objects.exists()
    assert not Customer.objects.filter(external_id="NEW-1").exists()


def test_one_referrer_per_referred_customer_and_a_replay_is_the_same_referral(client, alice, auth):
    make_customer(account_manager=alice, external_id="REF-1")
    make_customer(account_manager=alice, external_id="REF-2")
    first = send(client, referral("NEW-1"), auth, key="a").json()["events"][0]
    again = send(client, referral("NEW-1"), auth, key="b").json()["events"][0]
    assert again["referral_id"] == first["referral_id"] and first["referral_status"] == "qualified"
    response = send(client, {"events": [referral("NEW-2"), referral("NEW-1", referrer="REF-2")]}, auth, key="c")
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "events", 1, "customer", "external_id"]
    assert "already referred by another customer" in problem["msg"]
    assert Referral.objects.count() == 1 and not Customer.objects.filter(external_id="NEW-2").exists()


def test_a_crm_referral_is_marked_as_coming_from_the_crm(alice):
    make_customer(account_manager=alice, external_id="REF-1")
    event = EventInput(
        type="referral.converted",
        customer=CustomerInput(external_id="NEW-1", fields={"first_name": "G", "last_name": "H"}),
        referrer_external_id="REF-1",
    )
    [outcome] = events_apply(by=alice, events=[event], source="hubspot", referral_source=Referral.Source.CRM)
    stored = Referral.objects.get(referred__external_id=outcome.customer)
    assert (stored.source, stored.source_name) == ("crm", "hubspot")
