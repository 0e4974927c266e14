"""The lead's alert about a customer at risk: recorded as sent only once the mail went out, retried
while the mail server fails, and sent at most once however often the task runs."""

from __future__ import annotations

import smtplib
import threading
import time
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection

from campaigns import tasks
from campaigns.models import Touchpoint
from campaigns.services.alerts import send_at_risk_alert
from nurture.models import StaffProfile
from tests.factories import make_customer, make_touchpoint, make_user
from tests.support.mail import FLAKY, FlakyBackend

pytestmark = pytest.mark.django_db
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
GATED = f"{__name__}.GatedBackend"


class GatedBackend(BaseEmailBackend):
    """The first send waits at the gate until the test opens it, then fails or delivers."""

    entered = threading.Event()
    gate = threading.Event()
    fail_first = False
    calls = 0

    def send_messages(self, email_messages: Any) -> int:
        cls = type(self)
        cls.calls += 1
        if cls.calls == 1:
            cls.entered.set()
            assert cls.gate.wait(10)
            if cls.fail_first:
                raise ConnectionRefusedError("mail server down")
        return int(LocmemBackend().send_messages(email_messages))


@pytest.fixture
def at_risk_call(alice: Any) -> Touchpoint:
    lead = make_user("lena", email="lena@example.com")
    StaffProfile.objects.create(user=alice, lead=lead)
    return make_touchpoint(
        customer=make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace"),
        status="done",
        outcome=Touchpoint.Outcome.AT_RISK,
        completed_by=alice,
    )


@pytest.fixture
def flaky(settings: Any) -> type[FlakyBackend]:
    settings.EMAIL_BACKEND = FLAKY
    FlakyBackend.failures, FlakyBackend.attempts = 0, 0
    return FlakyBackend


def alert_sent_at(call: Touchpoint) -> Any:
    return Touchpoint.objects.values_list("alert_sent_at", flat=True).get(pk=call.pk)


@pytest.mark.parametrize(
    "error",
    [smtplib.SMTPRecipientsRefused({}), smtplib.SMTPServerDisconnected("gone"), ConnectionRefusedError(), OSError()],
    ids=lambda error: type(error).__name__,
)
def test_it_leaves_the_alert_unsent_when_the_mail_server_fails(at_risk_call, flaky, error):
    flaky.failures, flaky.error = 1, error

    with pytest.raises(type(error)):
        send_at_risk_alert(touchpoint_id=at_risk_call.pk)

    assert alert_sent_at(at_risk_call) is None
    assert mail.outbox == []
    # The mail server is back: the next try sends it, and records it.
    assert send_at_risk_alert(touchpoint_id=at_risk_call.pk) is True
    assert alert_sent_at(at_risk_call) is not None
    [message] = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "lena@example.com"]


def test_it_retries_the_task_until_the_mail_goes_out(at_risk_call, flaky):
    flaky.failures, flaky.error = 2, smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    result = tasks.send_at_risk_alert.apply(args=(at_risk_call.pk,))

    assert result.get() == {"sent": True}
    assert flaky.attempts == 3
    assert len(mail.outbox) == 1
    assert alert_sent_at(at_risk_call) is not None


def test_it_retries_every_mail_server_error_with_backoff():
    task: Any = tasks.send_at_risk_alert
    for error in (smtplib.SMTPException(), ConnectionError(), TimeoutError(), OSError()):
        assert isinstance(error, task.autoretry_for)
    assert task.retry_backoff and task.max_retries >= 5


def test_it_sends_at_most_once_when_the_task_runs_twice(at_risk_call, settings):
    settings.EMAIL_BACKEND = LOCMEM

    first = tasks.send_at_risk_alert.apply(args=(at_risk_call.pk,)).get()
    second = tasks.send_at_risk_alert.apply(args=(at_risk_call.pk,)).get()

    assert (first, second) == ({"sent": True}, {"sent": False})
    assert len(mail.outbox) == 1


# --- Two runs at once: the claim and the sending are one transaction ------------------------------


def run_in_thread(touchpoint_id: int, results: dict[str, Any], name: str) -> threading.Thread:
    def target() -> None:
        try:
            results[name] = send_at_risk_alert(touchpoint_id=touchpoint_id)
        except Exception as exc:
            results[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_fails", [False, True], ids=["first-sends", "first-fails"])
def test_a_second_run_waits_for_the_first_and_the_lead_hears_once(at_risk_call, settings, on_postgresql, first_fails):
    if not on_postgresql:
        pytest.skip("two connections holding row locks at once: PostgreSQL")
    settings.EMAIL_BACKEND = GATED
    GatedBackend.entered.clear()
    GatedBackend.gate.clear()
    GatedBackend.fail_first, GatedBackend.calls = first_fails, 0
    results: dict[str, Any] = {}

    threads = [run_in_thread(at_risk_call.pk, results, "first")]
    try:
        assert GatedBackend.entered.wait(10)  # the first run has claimed the alert and is sending
        threads.append(run_in_thread(at_risk_call.pk, results, "second"))
        time.sleep(0.5)
        assert threads[1].is_alive(), "the second run waits on the claimed row"
    finally:
        GatedBackend.gate.set()
        for thread in threads:
            thread.join(10)

    if first_fails:
        assert isinstance(results["first"], ConnectionRefusedError)
        assert results["second"] is True  # the claim was released: the second run sent it
    else:
        assert (results["first"], results["second"]) == (True, False)
    assert len(mail.outbox) == 1
    assert alert_sent_at(at_risk_call) is not None
