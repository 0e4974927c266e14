"""The CRM adapters: HubSpot (signature v3) and Pipedrive (webhooks v2, HTTP Basic) webhooks,
payloads shaped as those services document them, mapped onto the events in."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging

import pytest
import time_machine

from campaigns.models import CrmEventReceived
from nurture.models import Customer, Milestone
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SECRET = "hubspot-client-secret-1234"
HUBSPOT_URL = "http://testserver/api/v1/hooks/hubspot"


@pytest.fixture(autouse=True)
def configured(settings, alice):
    settings.NURTURE_HUBSPOT_CLIENT_SECRET = SECRET
    settings.NURTURE_HUBSPOT_OWNER = alice.username
    settings.NURTURE_PIPEDRIVE_USERNAME = "pipedrive"
    settings.NURTURE_PIPEDRIVE_PASSWORD = "s3cret-pass"
    settings.NURTURE_PIPEDRIVE_OWNER = alice.username


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def hubspot_event(event_id, subscription, object_id, **fields):
    # As HubSpot documents a webhook event (Webhooks API, "Webhook payloads").
    return {
        "eventId": event_id,
        "subscriptionId": 2381,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": NOW_MS - 60_000,
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        "changeFlag": "NEW",
        **fields,
    }


def hubspot_signature(*, secret, method, uri, body, timestamp):
    # Signature v3 as HubSpot documents it, written out here rather than taken from the code under test.
    source = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def post_hubspot(client, events, *, secret=SECRET, timestamp=None, signature=None):
    body = json.dumps(events).encode()
    timestamp = str(NOW_MS if timestamp is None else timestamp)
    if signature is None:
        signature = hubspot_signature(secret=secret, method="POST", uri=HUBSPOT_URL, body=body, timestamp=timestamp)
    return client.post(
        "/api/v1/hooks/hubspot",
        body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_V3=signature,
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp,
    )


def pipedrive_body(action, entity, entity_id, data, previous=None, timestamp="2026-11-02T08:59:00.000Z"):
    # As Pipedrive documents a webhooks v2 payload ("Guide for Webhooks v2").
    return {
        "meta": {
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "id": "e1d7c8a2-1f8b-4b5e-9a43-2b1f0c3d4e5f",
            "company_id": "12882925",
            "user_id": "18487521",
            "correlation_id": "9c7f8d0e-0000-4000-8000-000000000001",
            "is_bulk_edit": False,
            "timestamp": timestamp,
            "type": "general",
            "version": "2.0",
            "webhook_id": "99",
            "webhook_owner_id": "18487521",
            "attempt": 1,
            "host": "company.pipedrive.com",
            "change_source": "app",
            "permitted_user_ids": ["18487521"],
        },
        "data": data,
        "previous": previous,
    }


def post_pipedrive(client, body, *, credentials="pipedrive:s3cret-pass"):
    auth = "Basic " + base64.b64encode(credentials.encode()).decode()
    return client.post(
        "/api/v1/hooks/pipedrive", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth
    )


def milestones(external_id):
    return sorted(
        (m.kind.slug, m.date.isoformat()) for m in Milestone.objects.filter(customer__external_id=external_id)
    )


PERSON = {
    "id": 3,
    "name": "Grace Hopper",
    "first_name": "Grace",
    "last_name": "Hopper",
    "emails": [{"label": "work", "value": "grace@example.com", "primary": True}],
    "phones": [{"label": "work", "value": "+15550100", "primary": True}],
    "owner_id": 18487521,
    "add_time": "2026-11-02T08:59:00Z",
}
WON_DEAL = {"id": 7, "title": "Renewal", "status": "won", "person_id": 3, "won_time": "2026-11-01T16:00:00Z"}


# HubSpot


def test_hubspot_contact_creation_and_closed_won_deal(client, alice):
    events = [
        hubspot_event(100, "contact.creation", 501),
        hubspot_event(101, "deal.propertyChange", 900, propertyName="dealstage", propertyValue="closedwon"),
    ]
    response = post_hubspot(client, events)
    assert response.status_code == 200, response.content
    assert response.json()["customers_created"] == ["hubspot-501", "hubspot-deal-900"]
    contact = Customer.objects.get(external_id="hubspot-501")
    assert contact.account_manager == alice
    assert milestones("hubspot-deal-900") == [("became_customer", "2026-11-02")]
    assert milestones("hubspot-501") == []


def test_hubspot_known_customer_keeps_its_name(client, alice):
    make_customer(account_manager=alice, external_id="hubspot-deal-900", first_name="Ada", last_name="Lovelace")
    event = hubspot_event(101, "deal.propertyChange", 900, propertyName="dealstage", propertyValue="closedwon")
    assert post_hubspot(client, [event]).status_code == 200
    customer = Customer.objects.get(external_id="hubspot-deal-900")
    assert (customer.first_name, customer.last_name) == ("Ada", "Lovelace")
    assert milestones("hubspot-deal-900") == [("became_customer", "2026-11-02")]


def test_hubspot_forged_signature_is_refused_logged_and_writes_nothing(client, caplog):
    caplog.set_level(logging.WARNING, logger="campaigns.api.crm_hooks")
    response = post_hubspot(client, [hubspot_event(100, "contact.creation", 501)], secret="not-the-secret")
    assert response.status_code == 401
    assert not Customer.objects.exists() and not CrmEventReceived.objects.exists()
    assert "hubspot" in caplog.text and "signature does not match" in caplog.text
    assert SECRET not in caplog.text


def test_hubspot_body_changed_after_signing_is_refused(client):
    body = [hubspot_event(100, "contact.creation", 501)]
    signature = hubspot_signature(
        secret=SECRET, method="POST", uri=HUBSPOT_URL, body=json.dumps(body).encode(), timestamp=str(NOW_MS)
    )
    body[0]["objectId"] = 666
    assert post_hubspot(client, body, signature=signature).status_code == 401
    assert not Customer.objects.exists()


@pytest.mark.parametrize("skew_ms", [-5 * 60_000 - 1, -60 * 60_000, 5 * 60_000 + 1])
def test_hubspot_timestamp_more_than_5_minutes_away_is_refused(client, skew_ms):
    response = post_hubspot(client, [hubspot_event(100, "contact.creation", 501)], timestamp=NOW_MS + skew_ms)
    assert response.status_code == 401
    assert not Customer.objects.exists()


def test_hubspot_timestamp_within_5_minutes_is_accepted(client):
    response = post_hubspot(client, [hubspot_event(100, "contact.creation", 501)], timestamp=NOW_MS - 4 * 60_000)
    assert response.status_code == 200


def test_hubspot_missing_headers_are_refused(client):
    response = client.post("/api/v1/hooks/hubspot", "[]", content_type="application/json")
    assert response.status_code == 401


def test_hubspot_redelivery_changes_nothing(client):
    events = [
        hubspot_event(100, "contact.creation", 501),
        hubspot_event(101, "deal.propertyChange", 900, propertyName="dealstage", propertyValue="closedwon"),
    ]
    assert post_hubspot(client, events).status_code == 200
    Customer.objects.filter(external_id="hubspot-501").update(first_name="Edited")
    again = post_hubspot(client, events)
    assert again.status_code == 200
    assert again.json()["applied"] == 0 and again.json()["duplicates"] == 2
    assert Customer.objects.get(external_id="hubspot-501").first_name == "Edited"
    assert Customer.objects.count() == 2 and CrmEventReceived.objects.count() == 2


def test_hubspot_other_events_are_ignored(client):
    events = [
        hubspot_event(1, "contact.propertyChange", 501, propertyName="email", propertyValue="a@example.com"),
        hubspot_event(2, "deal.propertyChange", 900, propertyName="dealstage", propertyValue="appointmentscheduled"),
        hubspot_event(3, "company.creation", 77),
    ]
    response = post_hubspot(client, events)
    assert response.status_code == 200
    assert response.json()["ignored"] == 3
    assert not Customer.objects.exists()


def test_hubspot_not_configured_answers_404(client, settings):
    settings.NURTURE_HUBSPOT_CLIENT_SECRET = ""
    assert post_hubspot(client, [hubspot_event(100, "contact.creation", 501)]).status_code == 404


# Pipedrive


def test_pipedrive_person_created(client, alice):
    response = post_pipedrive(client, pipedrive_body("create", "person", 3, PERSON))
    assert response.status_code == 200, response.content
    grace = Customer.objects.get(external_id="pipedrive-3")
    assert (grace.first_name, grace.last_name, grace.email, grace.account_manager) == (
        "Grace",
        "Hopper",
        "grace@example.com",
        alice,
    )


def test_pipedrive_deal_won(client):
    post_pipedrive(client, pipedrive_body("create", "person", 3, PERSON))
    response = post_pipedrive(client, pipedrive_body("change", "deal", 7, WON_DEAL, previous={"status": "open"}))
    assert response.status_code == 200, response.content
    assert milestones("pipedrive-3") == [("became_customer", "2026-11-01")]


def test_pipedrive_deal_change_not_becoming_won_is_ignored(client):
    renamed = post_pipedrive(client, pipedrive_body("change", "deal", 7, WON_DEAL, previous={"title": "Old"}))
    opened = post_pipedrive(
        client, pipedrive_body("change", "deal", 7, {**WON_DEAL, "status": "open"}, previous={"status": "lost"})
    )
    created = post_pipedrive(client, pipedrive_body("create", "deal", 8, {**WON_DEAL, "id": 8}))
    assert [r.json()["ignored"] for r in (renamed, opened, created)] == [1, 1, 1]
    assert not Customer.objects.exists()


def test_pipedrive_redelivery_changes_nothing(client):
    body = pipedrive_body("change", "deal", 7, WON_DEAL, previous={"status": "open"})
    assert post_pipedrive(client, body).json()["applied"] == 1
    body["meta"]["attempt"] = 2
    again = post_pipedrive(client, body)
    assert again.json() == {
        "applied": 0,
        "duplicates": 1,
        "ignored": 0,
        "customers_created": [],
        "milestones_created": [],
    }
    assert milestones("pipedrive-3") == [("became_customer", "2026-11-01")]


@pytest.mark.parametrize("credentials", ["pipedrive:wrong", "someone:s3cret-pass", "pipedrive:s3cret-pass-and-more"])
def test_pipedrive_wrong_credentials_are_refused_and_logged(client, caplog, credentials):
    caplog.set_level(logging.WARNING, logger="campaigns.api.crm_hooks")
    response = post_pipedrive(client, pipedrive_body("create", "person", 3, PERSON), credentials=credentials)
    assert response.status_code == 401
    assert not Customer.objects.exists()
    assert "pipedrive refused: wrong HTTP Basic credentials" in caplog.text
    assert "s3cret-pass" not in caplog.text


def test_pipedrive_without_credentials_is_refused(client):
    response = client.post(
        "/api/v1/hooks/pipedrive",
        json.dumps(pipedrive_body("create", "person", 3, PERSON)),
        content_type="application/json",
    )
    assert response.status_code == 401


# Scoping and all-or-nothing


def test_owner_scoping_applies(client, alice, bob):
    make_customer(account_manager=bob, external_id="pipedrive-3")
    response = post_pipedrive(client, pipedrive_body("change", "deal", 7, WON_DEAL, previous={"status": "open"}))
    assert response.status_code == 422
    assert milestones("pipedrive-3") == []
    assert not CrmEventReceived.objects.exists()


def test_hubspot_batch_is_all_or_nothing(client, bob):
    make_customer(account_manager=bob, external_id="hubspot-deal-900")
    events = [
        hubspot_event(100, "contact.creation", 501),
        hubspot_event(101, "deal.propertyChange", 900, propertyName="dealstage", propertyValue="closedwon"),
    ]
    assert post_hubspot(client, events).status_code == 422
    assert not Customer.objects.filter(external_id="hubspot-501").exists()
    assert not CrmEventReceived.objects.exists()


def test_not_json_is_refused(client):
    response = post_pipedrive(client, {"no": "meta"})
    assert response.status_code == 400


def test_hubspot_signature_covers_the_query_string(client):
    body = json.dumps([hubspot_event(100, "contact.creation", 501)]).encode()
    timestamp = str(NOW_MS)
    signed_without = hubspot_signature(secret=SECRET, method="POST", uri=HUBSPOT_URL, body=body, timestamp=timestamp)
    response = client.post(
        "/api/v1/hooks/hubspot?portal=62515",
        body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_V3=signed_without,
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp,
    )
    assert response.status_code == 401
    signed_with = hubspot_signature(
        secret=SECRET, method="POST", uri=HUBSPOT_URL + "?portal=62515", body=body, timestamp=timestamp
    )
    response = client.post(
        "/api/v1/hooks/hubspot?portal=62515",
        body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_V3=signed_with,
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp,
    )
    assert response.status_code == 200


def test_same_event_id_on_another_object_is_another_event(client):
    assert post_hubspot(client, [hubspot_event(100, "contact.creation", 501)]).status_code == 200
    response = post_hubspot(client, [hubspot_event(100, "contact.creation", 502)])
    assert response.json()["applied"] == 1
    assert Customer.objects.filter(external_id__in=["hubspot-501", "hubspot-502"]).count() == 2


def test_pipedrive_not_configured_answers_404(client, settings):
    settings.NURTURE_PIPEDRIVE_PASSWORD = ""
    assert post_pipedrive(client, pipedrive_body("create", "person", 3, PERSON)).status_code == 404


def test_owner_not_a_user_answers_503_and_writes_nothing(client, settings):
    settings.NURTURE_PIPEDRIVE_OWNER = "nobody"
    assert post_pipedrive(client, pipedrive_body("create", "person", 3, PERSON)).status_code == 503
    assert not Customer.objects.exists()
