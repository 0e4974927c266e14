"""Work whose task was lost (Redis down when the change committed) is done later, once, by a periodic job.

Each test makes the change as a request or a worker would, with the publish helper dropping the task
(the ``outage`` fixture: nurture/publishing.py logs and drops a publish when Redis is down), checks
that nothing happened yet, then runs the Beat job that recovers it twice: one effect. The late task
itself, should it arrive after all, finds the work done.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any

import pytest
import time_machine
from celery import current_app
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import tasks
from campaigns.models import Card, HealthBandChange, Touchpoint
from campaigns.printing import DesignSpec, FitResult, check_fit
from campaigns.services import alerts
from campaigns.services import cards as cards_service
from campaigns.services.cards import cards_draft_missing
from campaigns.services.health import health_score_day
from campaigns.services.touchpoints import touchpoint_log_outcome
from nurture.models import Customer, StaffProfile
from tests.campaigns.test_cards_workflow import TOO_LONG, card_touchpoint
from tests.factories import make_customer, make_touchpoint, make_user
from tests.support.mail import FLAKY, FlakyBackend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
NOTHING_SENT = {"sent": 0, "failed": 0}


def later(minutes: float) -> time_machine.travel:
    """The clock `minutes` on from now, running."""
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes))


@pytest.fixture
def lead(alice: Any, settings: Any) -> Any:
    settings.EMAIL_BACKEND = LOCMEM
    lena = make_user("lena", email="lena@example.com")
    StaffProfile.objects.create(user=alice, lead=lena)
    return lena


def log_at_risk(alice: Any, capture: Any) -> Touchpoint:
    """Alice logs "at risk" on a call of hers; the commit asks for the lead's alert."""
    call = make_touchpoint(customer=make_customer(account_manager=alice, first_name="Ada"), due_on=timezone.localdate())
    with capture(execute=True):
        touchpoint_log_outcome(touchpoint=call, outcome=Touchpoint.Outcome.AT_RISK, by=alice)
    call.refresh_from_db()
    return call


# --- The lead's alerts ---------------------------------------------------------------------------


def test_an_at_risk_alert_whose_task_was_lost_is_sent_once_by_the_recovery(
    alice, lead, outage, django_capture_on_commit_callbacks
):
    call = log_at_risk(alice, django_capture_on_commit_callbacks)

    assert "campaigns.tasks.send_at_risk_alert" in outage.lost_tasks()
    assert (call.outcome, call.alert_sent_at, mail.outbox) == ("at_risk", None, [])
    # Within ten minutes the task may only be late: the recovery leaves it alone.
    assert tasks.send_overdue_alerts.apply().get() == NOTHING_SENT

    with later(11):
        first = tasks.send_overdue_alerts.apply().get()
        second = tasks.send_overdue_alerts.apply().get()

    assert (first, second) == ({"sent": 1, "failed": 0}, NOTHING_SENT)
    [message] = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "lena@example.com"]
    assert "is at risk" in message.subject
    call.refresh_from_db()
    assert call.alert_sent_at is not None
    # The lost task, delivered after all, finds it sent.
    assert tasks.send_at_risk_alert.apply(args=(call.pk,)).get() == {"sent": False}
    assert len(mail.outbox) == 1


def test_a_red_band_alert_whose_task_was_lost_is_sent_once_by_the_recovery(
    alice, lead, outage, django_capture_on_commit_callbacks
):
    day = timezone.localdate()
    ada = make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace")
    Customer.objects.filter(pk=ada.pk).update(created_at=timezone.now() - dt.timedelta(days=400))

    def call(outcome: str, days_before: int) -> None:
        when = timezone.now() - dt.timedelta(days=days_before)
        make_touchpoint(customer=ada, status="done", outcome=outcome, completed_at=when, due_on=when.date())

    call("reached", 6)
    health_score_day(as_of=day - dt.timedelta(days=1))
    for days, outcome in ((4, "at_risk"), (3, "no_answer"), (2, "no_answer"), (1, "no_answer")):
        call(outcome, days)
    with django_capture_on_commit_callbacks(execute=True):
        health_score_day(as_of=day)  # a health chunk: its alert is asked for after the commit

    change = HealthBandChange.objects.get(customer=ada, to_band="red")
    assert change.reacted_at is not None and change.alert_sent_at is None
    assert outage.lost_tasks().count("campaigns.tasks.send_health_alert") == 1
    assert mail.outbox == []

    with later(11):
        first = tasks.send_overdue_alerts.apply().get()
        second = tasks.send_overdue_alerts.apply().get()

    assert (first, second) == ({"sent": 1, "failed": 0}, NOTHING_SENT)
    [message] = mail.outbox
    assert "Ada Lovelace entered the red health band" in message.subject
    change.refresh_from_db()
    assert change.alert_sent_at is not None


def test_the_recovery_skips_calls_with_nobody_to_alert_and_alerts_past_its_window(
    alice, bob, lead, outage, django_capture_on_commit_callbacks
):
    nobodys = log_at_risk(bob, django_capture_on_commit_callbacks)  # bob has no lead
    old = log_at_risk(alice, django_capture_on_commit_callbacks)
    Touchpoint.objects.filter(pk=old.pk).update(
        completed_at=timezone.now() - alerts.ALERTS_RECOVERED_WITHIN - dt.timedelta(minutes=1)
    )
    recent = log_at_risk(alice, django_capture_on_commit_callbacks)

    with later(11):
        assert tasks.send_overdue_alerts.apply().get() == {"sent": 1, "failed": 0}

    sent = dict(Touchpoint.objects.filter(pk__in=[nobodys.pk, old.pk, recent.pk]).values_list("pk", "alert_sent_at"))
    assert sent[recent.pk] is not None
    assert sent[nobodys.pk] is None and sent[old.pk] is None
    assert len(mail.outbox) == 1


def test_a_mail_server_down_leaves_the_alerts_for_the_next_run_and_stops_early(
    alice, lead, outage, settings, monkeypatch, django_capture_on_commit_callbacks
):
    calls = [log_at_risk(alice, django_capture_on_commit_callbacks) for _ in range(alerts.FAILURES_PER_RUN + 2)]
    settings.EMAIL_BACKEND = FLAKY
    monkeypatch.setattr(FlakyBackend, "failures", 100)
    monkeypatch.setattr(FlakyBackend, "attempts", 0)
    monkeypatch.setattr(FlakyBackend, "error", smtplib.SMTPServerDisconnected("gone"))

    with later(11):
        assert tasks.send_overdue_alerts.apply().get() == {"sent": 0, "failed": alerts.FAILURES_PER_RUN}
        assert FlakyBackend.attempts == alerts.FAILURES_PER_RUN  # it did not wait on every alert
        FlakyBackend.failures = 0  # the mail server is back
        assert tasks.send_overdue_alerts.apply().get() == {"sent": len(calls), "failed": 0}
        assert tasks.send_overdue_alerts.apply().get() == NOTHING_SENT

    assert not Touchpoint.objects.filter(pk__in=[c.pk for c in calls], alert_sent_at__isnull=True).exists()


# --- The cards' fit checks -------------------------------------------------------------------------


def test_a_fit_check_whose_task_was_lost_is_done_once_by_the_recovery(
    outage, monkeypatch, django_capture_on_commit_callbacks
):
    fits = card_touchpoint()
    too_long = card_touchpoint(rule=fits.rule)
    with django_capture_on_commit_callbacks(execute=True):
        assert cards_draft_missing() == 2  # a planner chunk's drafting: the checks are queued after the commit
    Card.objects.filter(touchpoint=too_long).update(message=TOO_LONG)

    assert outage.lost_tasks() == ["campaigns.tasks.check_card_fits"]
    assert list(Card.objects.values_list("fits", flat=True)) == [None, None]
    layouts: list[str] = []

    def counted_check_fit(message: str, spec: DesignSpec) -> FitResult:
        layouts.append(message)
        return check_fit(message, spec)

    monkeypatch.setattr(cards_service, "check_fit", counted_check_fit)
    assert tasks.check_overdue_card_fits.apply().get() == {"checked": 0, "more": False}  # not overdue yet

    with later(11):
        first = tasks.check_overdue_card_fits.apply().get()
        second = tasks.check_overdue_card_fits.apply().get()

    assert (first, second) == ({"checked": 2, "more": False}, {"checked": 0, "more": False})
    assert len(layouts) == 2  # each message laid out once
    assert Card.objects.get(touchpoint=fits).fits is True
    unfit = Card.objects.get(touchpoint=too_long)
    assert (unfit.fits, unfit.status) == (False, "draft") and unfit.fit_problem
    # The lost task, delivered after all, checks nothing again.
    assert tasks.check_card_fits.apply(args=([unfit.pk],)).get() == {"checked": 0}


def test_the_fit_recovery_goes_a_page_at_a_time(outage, django_capture_on_commit_callbacks):
    rule = card_touchpoint().rule
    for _ in range(2):
        card_touchpoint(rule=rule)
    with django_capture_on_commit_callbacks(execute=True):
        assert cards_draft_missing() == 3

    with later(11):
        assert cards_service.cards_check_fit_overdue(limit=2).as_dict() == {"checked": 2, "more": True}
        assert cards_service.cards_check_fit_overdue(limit=2).as_dict() == {"checked": 1, "more": False}
    assert not Card.objects.unchecked().exists()


# --- Beat ------------------------------------------------------------------------------------------


def test_beat_runs_the_recoveries_every_five_minutes_and_the_fit_checks_on_the_render_queue():
    for name in ("campaigns.tasks.send_overdue_alerts", "campaigns.tasks.check_overdue_card_fits"):
        entry = PeriodicTask.objects.get(task=name)
        assert entry.enabled and (entry.interval.every, entry.interval.period) == (5, "minutes")
    router = current_app.amqp.router
    assert router.route({}, "campaigns.tasks.check_overdue_card_fits")["queue"].name == "rendering"
    assert router.route({}, "campaigns.tasks.send_overdue_alerts")["queue"].name == "celery"
