"""Webhooks out: the outbox, signing (checked with the reference library), retries, disabling, destinations."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError
from standardwebhooks import Webhook

from campaigns import tasks
from campaigns.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from campaigns.outbound import DestinationRefused, new_secret, resolve_destination
from campaigns.outbound.client import parse_retry_after
from campaigns.outbound.signing import webhook_headers
from campaigns.services import webhooks
from campaigns.services.batches import batch_mark_mailed, batch_mark_printed
from campaigns.services.touchpoints import touchpoint_bulk_log_outcome, touchpoint_log_outcome
from campaigns.services.webhooks import (
    RETRY_SCHEDULE,
    WebhookError,
    webhook_deliveries_dispatch,
    webhook_deliveries_replay,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
    webhook_event_record,
    webhook_events_touchpoints_due,
)
from tests.factories import NOON_UTC, make_customer, make_touchpoint, make_user
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

ALL_TYPES = ["touchpoint.due", "touchpoint.completed", "outcome.logged", "card.printed", "card.mailed"]


@pytest.fixture
def receiver(settings: Any) -> Iterator[WebhookReceiver]:
    settings.NURTURE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def owner() -> Any:
    return make_user("hookowner", email="hooks@example.com")


@pytest.fixture
def endpoint(receiver: WebhookReceiver, owner: Any) -> WebhookEndpoint:
    created = webhook_endpoint_create(url=receiver.url(), event_types=ALL_TYPES, owner=owner)
    receiver.secrets = [created.secret]
    return created


def record(type: str = "touchpoint.completed", subject_id: int | None = 1, **data: Any) -> None:
    with transaction.atomic():
        webhook_event_record(type=type, subject_id=subject_id, data=data or {"touchpoint": subject_id})


# --- Signing -------------------------------------------------------------------------------------


def test_our_signature_is_the_reference_librarys():
    secret = new_secret()
    body = b'{"type":"card.mailed","timestamp":"2025-03-10T12:00:00+00:00","data":{}}'
    now = int(timezone.now().timestamp())
    headers = webhook_headers(secrets=[secret], message_id="msg_1", timestamp=now, body=body)

    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert headers["webhook-signature"] == Webhook(secret).sign(
        "msg_1", dt.datetime.fromtimestamp(now, dt.UTC), body.decode()
    )
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new_secret()).verify(body, headers)


def test_a_secret_is_whsec_and_24_or_more_random_bytes(endpoint):
    import base64

    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) >= 24
    assert endpoint.secret != new_secret()


# --- Recording: the outbox ----------------------------------------------------------------------


def test_logging_an_outcome_records_its_events_in_the_same_transaction(endpoint):
    touchpoint = make_touchpoint()
    touchpoint_log_outcome(touchpoint=touchpoint, outcome="reached", by=make_user())

    events = {e.type: e for e in WebhookEvent.objects.all()}
    assert set(events) == {"touchpoint.completed", "outcome.logged"}
    data = events["outcome.logged"].data
    assert data["outcome"] == "reached"
    assert data["customer"] == touchpoint.customer.external_id
    assert (data["touchpoint"], data["rule"], data["due_on"]) == (touchpoint.pk, touchpoint.rule.slug, "2025-03-10")


def test_a_change_that_rolls_back_records_no_event(endpoint):
    touchpoint = make_touchpoint()
    with pytest.raises(RuntimeError), transaction.atomic():
        touchpoint_log_outcome(touchpoint=touchpoint, outcome="reached", by=make_user())
        raise RuntimeError("the caller fails after the service")
    assert not WebhookEvent.objects.exists()


def test_an_event_about_a_subject_is_recorded_once(endpoint):
    touchpoints = [make_touchpoint() for _ in range(3)]
    touchpoint_bulk_log_outcome(touchpoints=touchpoints, outcome="voicemail", by=make_user())
    record("touchpoint.completed", touchpoints[0].pk)

    assert WebhookEvent.objects.filter(type="touchpoint.completed").count() == 3
    assert WebhookEvent.objects.filter(type="outcome.logged").count() == 3


def test_nothing_is_recorded_while_no_endpoint_wants_the_type(owner, receiver):
    webhook_endpoint_create(url=receiver.url(), event_types=["card.mailed"], owner=owner)
    touchpoint_log_outcome(touchpoint=make_touchpoint(), outcome="reached", by=make_user())
    assert not WebhookEvent.objects.exists()


def test_an_unknown_type_is_refused():
    with pytest.raises(WebhookError, match=r"Unknown webhook event type 'card\.eaten'"):
        webhook_event_record(type="card.eaten", subject_id=1, data={})


def test_touchpoint_due_is_recorded_once_when_its_day_begins_where_the_customer_is(endpoint):
    # At NOON_UTC it is already 11 March on Kiritimati (UTC+14), still 10 March in London.
    kiritimati = make_touchpoint(customer=make_customer(time_zone="Pacific/Kiritimati"), due_on=dt.date(2025, 3, 11))
    london = make_touchpoint(customer=make_customer(time_zone="Europe/London"), due_on=dt.date(2025, 3, 11))
    today = make_touchpoint(due_on=dt.date(2025, 3, 10))
    make_touchpoint(due_on=dt.date(2025, 3, 10), status="skipped", skip_reason="not needed")

    with time_machine.travel(NOON_UTC, tick=False):
        assert webhook_events_touchpoints_due() == 2
        assert webhook_events_touchpoints_due() == 0
    due = set(WebhookEvent.objects.filter(type="touchpoint.due").values_list("subject_id", flat=True))
    assert due == {kiritimati.pk, today.pk}
    with time_machine.travel(NOON_UTC + dt.timedelta(days=1), tick=False):
        assert webhook_events_touchpoints_due() == 1
    assert WebhookEvent.objects.filter(type="touchpoint.due", subject_id=london.pk).exists()


# --- Delivering ------------------------------------------------------------------------------------


def test_a_delivery_is_signed_as_the_standard_says_and_carries_type_timestamp_and_data(endpoint, receiver):
    record("touchpoint.completed", 7, touchpoint=7, customer="C-7")
    summary = webhook_deliveries_dispatch()

    assert summary.delivered == 1
    [request] = receiver.received
    assert request.verified_with == [endpoint.secret]
    event = WebhookEvent.objects.get()
    assert request.webhook_id == event.message_id
    assert request.payload == {
        "type": "touchpoint.completed",
        "timestamp": event.created_at.isoformat(),
        "data": {"touchpoint": 7, "customer": "C-7"},
    }
    assert request.headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert webhook_deliveries_dispatch().delivered == 0  # nothing twice


def test_a_failed_delivery_is_retried_on_the_schedule_with_the_same_webhook_id(endpoint, receiver):
    receiver.answers = [(500, {}, b"boom"), (503, {}, b"")]
    record()
    start = timezone.now()
    webhook_deliveries_dispatch(now=start)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.response_excerpt == "boom"
    first_delay = (delivery.next_attempt_at - start).total_seconds()
    assert RETRY_SCHEDULE[0].total_seconds() * 0.9 <= first_delay <= RETRY_SCHEDULE[0].total_seconds() * 1.1

    assert webhook_deliveries_dispatch(now=start + dt.timedelta(seconds=1)).delivered == 0  # not due yet
    webhook_deliveries_dispatch(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.last_attempt_at is not None
    second_delay = delivery.next_attempt_at - delivery.last_attempt_at
    assert RETRY_SCHEDULE[1] * 0.9 <= second_delay <= RETRY_SCHEDULE[1] * 1.1

    webhook_deliveries_dispatch(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert all(r.verified_with for r in receiver.received)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # a success clears the failure clock


def test_the_schedule_spans_about_three_days_and_then_the_delivery_fails(endpoint, receiver):
    assert dt.timedelta(days=2.5) < sum(RETRY_SCHEDULE, dt.timedelta()) < dt.timedelta(days=3.5)
    receiver.default = (500, {}, b"")
    record()
    moment = timezone.now()
    for _ in range(len(RETRY_SCHEDULE) + 1):
        webhook_deliveries_dispatch(now=moment)
        moment = WebhookDelivery.objects.get().next_attempt_at
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", len(RETRY_SCHEDULE) + 1)
    assert len(receiver.received) == len(RETRY_SCHEDULE) + 1


def test_retry_after_is_honoured_in_seconds_and_as_a_date(endpoint, receiver):
    receiver.answers = [(429, {"Retry-After": "600"}, b"")]
    record()
    start = timezone.now()
    webhook_deliveries_dispatch(now=start)
    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at - start == dt.timedelta(seconds=600)

    assert (
        parse_retry_after(
            "Wed, 21 Oct 2015 07:28:00 GMT", now=dt.datetime(2015, 10, 21, 7, 18, tzinfo=dt.UTC).timestamp()
        )
        == 600
    )
    assert parse_retry_after("soon") is None
    capped = webhooks.retry_delay(1, retry_after=10 * 24 * 3600)
    assert capped == webhooks.RETRY_AFTER_CAP


def test_a_redirect_is_a_failure_and_is_not_followed(endpoint, receiver):
    receiver.answers = [(302, {"Location": receiver.url("/elsewhere")}, b"")]
    record()
    webhook_deliveries_dispatch()
    assert [r.path for r in receiver.received] == ["/hooks"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert "redirect" in delivery.last_error


def test_410_gone_disables_the_endpoint_at_once_and_mails_its_owner(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [(410, {}, b"")]
    record()
    record(subject_id=2)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_deliveries_dispatch()
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "410" in endpoint.disabled_reason
    assert [m.to for m in mail.outbox] == [["hooks@example.com"]]
    assert endpoint.url in mail.outbox[0].body
    # The one in flight with the 410 failed; what the endpoint has not received waits.
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) in (
        ["failed", "pending"],
        ["delivered", "failed"],
    )


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owner_mailed_once(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.default = (500, {}, b"")
    start = timezone.now()
    for day in range(7):
        record(subject_id=100 + day)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_deliveries_dispatch(now=start + dt.timedelta(days=day, seconds=1))
        endpoint.refresh_from_db()
        assert endpoint.enabled == (day < 5)
    assert endpoint.failing_since == start + dt.timedelta(seconds=1)
    assert "5 days" in endpoint.disabled_reason
    assert len(mail.outbox) == 1


def test_a_disabled_endpoint_receives_nothing(endpoint, receiver):
    webhooks.webhook_endpoint_disable(endpoint=endpoint, reason="paused")
    webhook_event_record(type="card.mailed", subject_id=1, data={})
    assert webhook_deliveries_dispatch().delivered == 0
    assert receiver.received == []


def test_rotating_the_secret_signs_with_both_for_24_hours(endpoint, receiver):
    old = endpoint.secret
    new = webhook_endpoint_rotate_secret(endpoint=endpoint)
    receiver.secrets = [old, new]
    record(subject_id=1)
    webhook_deliveries_dispatch()
    assert receiver.received[-1].verified_with == [old, new]
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 2

    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, minutes=1)):
        record(subject_id=2)
        webhook_deliveries_dispatch()
    assert receiver.received[-1].verified_with == [new]


def test_a_test_event_goes_to_its_endpoint_only(endpoint, receiver, owner):
    other = WebhookReceiver().start()
    try:
        webhook_endpoint_create(url=other.url(), event_types=ALL_TYPES, owner=owner)
        webhook_endpoint_send_test(endpoint=endpoint)
        webhook_deliveries_dispatch()
        assert [r.payload["type"] for r in receiver.received] == ["webhook.test"]
        assert other.received == []
    finally:
        other.stop()


def test_a_replay_sends_again_with_the_same_webhook_id(endpoint, receiver):
    record()
    webhook_deliveries_dispatch()
    assert webhook_deliveries_replay(deliveries=WebhookDelivery.objects.all()) == 1
    webhook_deliveries_dispatch()
    assert len(receiver.received) == 2
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    assert WebhookDelivery.objects.get().status == "delivered"


def test_the_broker_down_at_commit_loses_nothing(endpoint, receiver, monkeypatch, django_capture_on_commit_callbacks):
    # The real outage, with real processes, is tests/faults/test_webhooks.py; here the publish fails
    # as kombu fails it when Redis refuses the connection.
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.dispatch_webhooks, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record()
    assert callbacks  # the nudge ran, and failed quietly: the change is committed
    assert WebhookEvent.objects.count() == 1
    assert webhook_deliveries_dispatch().delivered == 1  # the periodic dispatch finds it
    assert len(receiver.received) == 1


# --- Destinations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://localhost:8000/hooks",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_private_loopback_and_link_local_destinations_are_refused(url, owner):
    with pytest.raises(DestinationRefused, match="webhooks are not sent there"):
        resolve_destination(url)
    with pytest.raises(WebhookError, match="webhooks are not sent there"):
        webhook_endpoint_create(url=url, event_types=ALL_TYPES, owner=owner)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/", "only http and https"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http:///nohost", "names no host"),
        ("http://no-such-host.invalid/", "could not be resolved"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url, problem):
    with pytest.raises(DestinationRefused, match=problem):
        resolve_destination(url)


def test_a_public_address_is_accepted_and_an_allowed_host_may_be_private():
    assert resolve_destination("https://93.184.215.14:8443/x?y=1").address == "93.184.215.14"
    destination = resolve_destination("http://127.0.0.1:9/h", allowed_hosts=["127.0.0.1"])
    assert (destination.address, destination.port, destination.path) == ("127.0.0.1", 9, "/h")


def test_a_destination_that_became_private_is_refused_at_send_time(endpoint, receiver, settings):
    # As if the name now resolved elsewhere (DNS rebinding): the check runs again before each attempt.
    settings.NURTURE_WEBHOOK_ALLOWED_HOSTS = []
    record()
    webhook_deliveries_dispatch()
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert "not sent there" in delivery.last_error


# --- Where the events come from ------------------------------------------------------------------


@pytest.mark.usefixtures("media_root")
def test_printing_and_mailing_a_batch_records_card_and_touchpoint_events(endpoint, receiver):
    from tests.campaigns.test_batches import build, cards, render

    made = cards(2)
    batch = render(build())
    print_room = make_user("printer2")
    batch_mark_printed(batch=batch, by=print_room)
    batch_mark_mailed(batch=batch, by=print_room)

    printed = WebhookEvent.objects.filter(type="card.printed")
    mailed = WebhookEvent.objects.filter(type="card.mailed")
    completed = WebhookEvent.objects.filter(type="touchpoint.completed")
    assert set(printed.values_list("subject_id", flat=True)) == {card.pk for card in made}
    assert set(mailed.values_list("subject_id", flat=True)) == {card.pk for card in made}
    assert set(completed.values_list("subject_id", flat=True)) == {card.touchpoint_id for card in made}
    data = mailed.get(subject_id=made[0].pk).data
    made[0].refresh_from_db()
    assert data["customer"] == made[0].touchpoint.customer.external_id
    assert (data["batch"], data["sequence"]) == (f"B{batch.pk}", made[0].sequence_code)

    webhook_deliveries_dispatch()
    assert sorted(r.payload["type"] for r in receiver.received) == sorted(
        ["card.printed"] * 2 + ["card.mailed"] * 2 + ["touchpoint.completed"] * 2
    )
    assert all(r.verified_with for r in receiver.received)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_once_the_change_commits(worker_factory, receiver, owner, monkeypatch):
    monkeypatch.setenv("NURTURE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")  # the worker's own settings
    endpoint = webhook_endpoint_create(url=receiver.url(), event_types=ALL_TYPES, owner=owner)
    receiver.secrets = [endpoint.secret]
    worker_factory()
    touchpoint = make_touchpoint()
    touchpoint_log_outcome(touchpoint=touchpoint, outcome="at_risk", by=make_user())

    deadline = time.monotonic() + 30
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(r.payload["type"] for r in receiver.received) == ["outcome.logged", "touchpoint.completed"]
    assert all(r.verified_with == [endpoint.secret] for r in receiver.received)
