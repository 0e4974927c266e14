"""The webhook admin: the secret shown once, rotation, test events, the delivery log and replay, scoping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from campaigns.services.webhooks import webhook_deliveries_dispatch, webhook_endpoint_create
from tests.factories import make_user, messages_of
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

WEBHOOK_PERMISSIONS = [
    "campaigns.view_webhookendpoint",
    "campaigns.add_webhookendpoint",
    "campaigns.change_webhookendpoint",
    "campaigns.view_webhookdelivery",
]
ENDPOINTS = reverse("admin:campaigns_webhookendpoint_changelist")
DELIVERIES = reverse("admin:campaigns_webhookdelivery_changelist")


@pytest.fixture
def receiver(settings: Any) -> Iterator[WebhookReceiver]:
    settings.NURTURE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def integrator(client: Any) -> Any:
    user = make_user("integrator", perms=WEBHOOK_PERMISSIONS, email="integrator@example.com")
    client.force_login(user)
    return user


def test_creating_an_endpoint_shows_its_secret_once(client, integrator, receiver):
    response = client.post(
        reverse("admin:campaigns_webhookendpoint_add"),
        {"url": receiver.url(), "description": "CRM", "event_types": ["card.mailed", "outcome.logged"]},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.owner, endpoint.event_types) == (integrator, ["card.mailed", "outcome.logged"])
    assert any(endpoint.secret in message for message in messages_of(response))
    change = client.get(reverse("admin:campaigns_webhookendpoint_change", args=[endpoint.pk]))
    assert change.status_code == 200
    assert endpoint.secret not in change.content.decode()


def test_a_private_url_is_refused_in_the_form(client, integrator):
    response = client.post(
        reverse("admin:campaigns_webhookendpoint_add"),
        {"url": "http://10.0.0.5/hooks", "event_types": ["card.mailed"]},
    )
    assert response.status_code == 200
    assert "webhooks are not sent there" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_rotate_and_send_a_test_event_then_replay_it_from_the_delivery_log(client, integrator, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url(), event_types=["card.mailed"], owner=integrator)
    old = endpoint.secret
    response = client.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [endpoint.pk]}, follow=True)
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == old
    assert any(endpoint.secret in m for m in messages_of(response))

    client.post(ENDPOINTS, {"action": "send_test_event", "_selected_action": [endpoint.pk]})
    receiver.secrets = [endpoint.secret]
    webhook_deliveries_dispatch()
    assert [r.payload["type"] for r in receiver.received] == ["webhook.test"]
    assert receiver.received[0].verified_with == [endpoint.secret]

    log = client.get(DELIVERIES, {"endpoint": endpoint.pk, "status": "delivered"})
    assert WebhookEvent.objects.get().message_id in log.content.decode()
    delivery = WebhookDelivery.objects.get()
    client.post(DELIVERIES, {"action": "replay", "_selected_action": [delivery.pk]})
    webhook_deliveries_dispatch()
    assert len(receiver.received) == 2
    assert receiver.received[1].webhook_id == receiver.received[0].webhook_id


def test_disable_and_enable(client, integrator, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url(), event_types=["card.mailed"], owner=integrator)
    client.post(ENDPOINTS, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "Disabled by integrator.")
    client.post(ENDPOINTS, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (True, "")


def test_an_owner_sees_only_their_endpoints_and_deliveries_and_administrators_all(
    client, integrator, receiver, superuser
):
    mine = webhook_endpoint_create(url=receiver.url("/mine"), event_types=["card.mailed"], owner=integrator)
    theirs = webhook_endpoint_create(url=receiver.url("/theirs"), event_types=["card.mailed"], owner=make_user("other"))
    WebhookEvent.objects.create(message_id="msg_x", type="card.mailed", subject_id=1)
    webhook_deliveries_dispatch()

    listing = client.get(ENDPOINTS).content.decode()
    assert "/mine" in listing and "/theirs" not in listing
    assert client.get(reverse("admin:campaigns_webhookendpoint_change", args=[theirs.pk])).status_code == 404
    log = client.get(DELIVERIES).content.decode()
    assert "/mine" in log and "/theirs" not in log
    my_delivery = WebhookDelivery.objects.get(endpoint=mine)
    page = client.get(reverse("admin:campaigns_webhookdelivery_change", args=[my_delivery.pk]))
    assert page.status_code == 200 and "msg_x" in page.content.decode()
    other_delivery = WebhookDelivery.objects.get(endpoint=theirs)
    assert client.get(reverse("admin:campaigns_webhookdelivery_change", args=[other_delivery.pk])).status_code == 404

    client.force_login(superuser)
    listing = client.get(ENDPOINTS).content.decode()
    assert "/mine" in listing and "/theirs" in listing
    assert mine.pk != theirs.pk
