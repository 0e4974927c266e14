"""POST /api/v1/events and /events/batch: the event types, all-or-nothing batches, idempotency
keys, validation naming the field, and the rate limit per token."""

import datetime as dt
import json

import pytest
import time_machine

from campaigns.models import Activity, IdempotencyKey
from campaigns.services.idempotency import idempotency_keys_expire
from nurture.models import Customer, Milestone
from tests.factories import bearer, make_api_token, make_customer

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def auth(alice):
    return bearer(make_api_token(alice, name="CRM"))


def send(client, body, auth, key="key-1", path="/api/v1/events"):
    headers = dict(auth)
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def ada(**fields):
    return {"external_id": "CRM-1", "first_name": "Ada", "last_name": "Lovelace", **fields}


def milestones(external_id):
    return sorted(
        (m.kind.slug, m.date.isoformat()) for m in Milestone.objects.filter(customer__external_id=external_id)
    )


def test_deal_won_creates_the_customer_and_a_became_customer_milestone(client, alice, auth):
    response = send(
        client, {"type": "deal.won", "customer": ada(time_zone="Europe/London"), "date": "2026-10-30"}, auth
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 1 and body["customers_created"] == ["CRM-1"]
    assert body["events"][0]["milestones_created"] == ["CRM-1: became_customer 2026-10-30"]
    customer = Customer.objects.get(external_id="CRM-1")
    assert (customer.account_manager, customer.time_zone) == (alice, "Europe/London")
    assert milestones("CRM-1") == [("became_customer", "2026-10-30")]


def test_each_type_does_what_it_says(client, alice, auth):
    make_customer(account_manager=alice, external_id="REF-1")
    with time_machine.travel(NOW, tick=False):
        events = [
            {"type": "customer.created", "customer": ada()},
            {"type": "renewal.signed", "customer": {"external_id": "CRM-1"}, "renewal_date": "2027-11-01"},
            {"type": "job.placed", "customer": {"external_id": "CRM-1"}, "occurred_at": "2026-11-01T23:30:00-05:00"},
            {"type": "nps.responded", "customer": {"external_id": "CRM-1"}, "score": 9, "comment": "Great", "id": "a1"},
            {
                "type": "referral.converted",
                "customer": {"external_id": "CRM-2", "first_name": "Grace", "last_name": "Hopper"},
                "referrer_external_id": "REF-1",
            },
        ]
        response = send(client, {"events": events}, auth, path="/api/v1/events/batch")
    assert response.status_code == 202, response.content
    assert response.json()["customers_created"] == ["CRM-1", "CRM-2"]
    # job.placed: the day of occurred_at in the customer's zone (UTC here: 2 November); an NPS
    # answer of 9 is a promoter's (the "Ask for a referral" cadence counts from it).
    assert milestones("CRM-1") == [
        ("job_placement", "2026-11-02"),
        ("last_contact", "2026-11-02"),
        ("promoter_score", "2026-11-02"),
        ("renewal", "2027-11-01"),
    ]
    nps = Activity.objects.get()
    assert (nps.channel, nps.score, nps.subject, nps.source, nps.external_id) == ("nps", 9, "Great", "CRM", "a1")
    assert milestones("REF-1") == [("referred_customer", "2026-11-02")]
    assert milestones("CRM-2") == []


def test_a_bad_event_in_a_batch_applies_none_and_names_its_position_and_field(client, alice, auth):
    events = [
        {"type": "deal.won", "customer": ada()},
        {
            "type": "deal.won",
            "customer": {"external_id": "CRM-2", "first_name": "G", "last_name": "H", "country": "XX"},
        },
        {"type": "nps.responded", "customer": {"external_id": "CRM-1"}},
    ]
    response = send(client, {"events": events}, auth, path="/api/v1/events/batch")
    assert response.status_code == 422
    locs = [problem["loc"] for problem in response.json()["detail"]]
    assert ["body", "events", 2, "score"] in locs
    assert not Customer.objects.exists() and not Milestone.objects.exists()
    events[2]["score"] = 8
    response = send(client, {"events": events}, auth, key="key-2", path="/api/v1/events/batch")
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "events", 1, "customer", "country"]]
    assert not Customer.objects.exists()


def test_schema_errors_name_the_field(client, auth):
    response = send(client, {"type": "deal.lost", "customer": ada()}, auth)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "type"] and "deal.won" in problem["msg"]
    too_many = {"events": [{"type": "customer.created", "customer": ada()}] * 1001}
    assert send(client, too_many, auth, path="/api/v1/events/batch").status_code == 422


def test_an_idempotency_key_is_required(client, auth):
    response = send(client, {"type": "deal.won", "customer": ada()}, auth, key=None)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert not Customer.objects.exists()


def test_the_same_key_and_body_answers_the_first_response_and_applies_once(client, auth):
    body = {"type": "nps.responded", "customer": ada(), "score": 3}
    first = send(client, body, auth)
    again = send(client, body, auth)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Activity.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(client, auth):
    assert send(client, {"type": "deal.won", "customer": ada()}, auth).status_code == 202
    other = send(client, {"type": "deal.won", "customer": ada(), "date": "2020-01-01"}, auth)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert milestones("CRM-1") == [("became_customer", dt.date.today().isoformat())]


def test_keys_belong_to_their_token(client, alice, auth):
    other = bearer(make_api_token(alice, name="Survey tool"))
    assert send(client, {"type": "deal.won", "customer": ada()}, auth).status_code == 202
    second = send(client, {"type": "nps.responded", "customer": ada(), "score": 5}, other)
    assert second.status_code == 202 and "Idempotent-Replayed" not in second


def test_keys_are_kept_seven_days(client, auth):
    with time_machine.travel(NOW, tick=False):
        send(client, {"type": "deal.won", "customer": ada()}, auth)
    assert idempotency_keys_expire(now=NOW + dt.timedelta(days=6)) == 0
    assert idempotency_keys_expire(now=NOW + dt.timedelta(days=7, seconds=1)) == 1
    assert not IdempotencyKey.objects.exists()


def test_another_owners_customer_cannot_be_touched_by_events(client, bob, auth):
    make_customer(account_manager=bob, external_id="B-1")
    response = send(client, {"type": "deal.won", "customer": {"external_id": "B-1"}}, auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customer", "external_id"]
    assert milestones("B-1") == []


def test_past_the_rate_limit_the_token_gets_429_with_retry_after(client, alice, settings):
    settings.NURTURE_API_RATE_LIMIT = (3, 60)
    secret = make_api_token(alice, name=f"Limited {dt.datetime.now().timestamp()}")
    with time_machine.travel(NOW, tick=False):
        codes = [client.get("/api/v1/customers", **bearer(secret)).status_code for _ in range(4)]
        limited = client.get("/api/v1/customers", **bearer(secret))
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    with time_machine.travel(NOW + dt.timedelta(seconds=60), tick=False):
        assert client.get("/api/v1/customers", **bearer(secret)).status_code == 200
