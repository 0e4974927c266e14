"""The morning digest: recorded as sent only once the mail went out, and sent at most once a day."""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any

import pytest
from django.core import mail

from campaigns import tasks
from campaigns.models import DigestDelivery
from campaigns.services.digests import send_digest
from tests.factories import make_customer, make_touchpoint
from tests.support.mail import FLAKY, FlakyBackend

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 10)
NOW = dt.datetime(2025, 3, 10, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def overdue_call(alice: Any) -> Any:
    customer = make_customer(account_manager=alice)
    return make_touchpoint(customer=customer, assignee=alice, due_on=TODAY - dt.timedelta(days=1))


@pytest.fixture
def flaky(settings: Any) -> type[FlakyBackend]:
    settings.EMAIL_BACKEND = FLAKY
    FlakyBackend.failures, FlakyBackend.attempts = 0, 0
    return FlakyBackend


def test_it_leaves_the_digest_unsent_when_the_mail_server_fails(alice, overdue_call, flaky):
    flaky.failures, flaky.error = 1, smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    with pytest.raises(smtplib.SMTPServerDisconnected):
        send_digest(user_id=alice.pk, date=TODAY, now=NOW)

    assert not DigestDelivery.objects.exists()
    # The mail server is back: the retry sends it and records it, once.
    assert send_digest(user_id=alice.pk, date=TODAY, now=NOW) is True
    assert send_digest(user_id=alice.pk, date=TODAY, now=NOW) is False
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert DigestDelivery.objects.get().sent_at is not None


def test_it_retries_every_mail_server_error():
    task: Any = tasks.send_digest
    for error in (smtplib.SMTPException(), ConnectionError(), TimeoutError(), OSError()):
        assert isinstance(error, task.autoretry_for)
    assert task.retry_backoff and task.max_retries >= 5
