"""E-mail the account manager's lead when a call finds a customer at risk (once per call), or when
a customer enters the red health band (once per band change).

The alert is recorded as sent only once the mail went out: the claim (alert_sent_at) and the
sending are one transaction. A mail server that fails raises, the claim rolls back, and the task
retries (campaigns.tasks.send_at_risk_alert); a second run meanwhile waits on the claimed row and
then finds it taken, so the lead hears once.

An alert whose task was never queued (Redis down when the call was logged, or when the health
chunk that found the customer red committed: nurture/publishing.py) is not lost: the rows say what
is owed. An "at risk" call with ``alert_sent_at`` empty, and a red band change that was reacted to
(``reacted_at``) with ``alert_sent_at`` empty, are alerts still to send. ``alerts_send_overdue``
(Beat, every five minutes: campaigns.tasks.send_overdue_alerts) sends those still unsent
ALERT_OVERDUE_AFTER after they were asked for, through the same claim, so a task that arrives late
and the recovery never both send. It looks back ALERTS_RECOVERED_WITHIN only (an alert days late
is no news; a mail server down for longer is an incident of its own), and leaves out the rows
whose manager has no lead to alert, as the task does.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.models import HealthBandChange, HealthSnapshot, Touchpoint
from campaigns.scoring.combine import RED
from nurture.models import StaffProfile

log = logging.getLogger(__name__)

# The claimed row stays locked while the mail goes out: never wait on a mail server for longer.
MAIL_TIMEOUT_SECONDS = 30
# An alert still unsent this long after it was asked for lost its task: the recovery sends it.
# Longer than a queued task waits behind others; the task's own first retries come sooner.
ALERT_OVERDUE_AFTER = dt.timedelta(minutes=10)
# How far back the recovery looks: an alert older than this is not sent any more.
ALERTS_RECOVERED_WITHIN = dt.timedelta(days=3)
# Alerts of each kind sent per recovery run at most (the next run, five minutes later, goes on).
ALERTS_PER_RUN = 200
# A recovery run stops after this many failed mails: a mail server that is down fails them all
# (each after MAIL_TIMEOUT_SECONDS), and one refused address never holds the others up.
FAILURES_PER_RUN = 3


def send_at_risk_alert(*, touchpoint_id: int) -> bool:
    """Returns False when there is nobody to alert or the alert was already sent."""
    touchpoint = (
        Touchpoint.objects.select_related("customer", "rule", "assignee", "completed_by")
        .filter(pk=touchpoint_id, outcome=Touchpoint.Outcome.AT_RISK)
        .first()
    )
    if touchpoint is None:
        return False
    manager = touchpoint.completed_by or touchpoint.assignee
    lead = _lead_of(manager)
    if lead is None:
        return False
    context = {"touchpoint": touchpoint, "customer": touchpoint.customer, "manager": manager, "lead": lead}
    return _mail_once(
        claim=Touchpoint.objects.filter(pk=touchpoint.pk, alert_sent_at__isnull=True),
        subject=f"nurture: {touchpoint.customer.full_name} is at risk",
        message=render_to_string("campaigns/at_risk_alert.txt", context),
        to=(lead, manager),
    )


def send_health_alert(*, band_change_id: int) -> bool:
    """The lead hears that a customer entered red, like an "at risk" call. Claimed like the above.
    Returns False when there is nobody to alert or the alert was already sent."""
    change = HealthBandChange.objects.select_related("customer__account_manager").filter(pk=band_change_id).first()
    if change is None:
        return False
    customer = change.customer
    manager = customer.account_manager
    lead = _lead_of(manager)
    if lead is None:
        return False
    health = HealthSnapshot.objects.filter(customer=customer, date=change.date).first()  # the day it entered red
    reasons = [line for line in (health.lines() if health else []) if line["effect"] < 0]
    context = {"change": change, "customer": customer, "manager": manager, "lead": lead, "reasons": reasons}
    return _mail_once(
        claim=HealthBandChange.objects.filter(pk=change.pk, alert_sent_at__isnull=True),
        subject=f"nurture: {customer.full_name} entered the red health band",
        message=render_to_string("campaigns/health_alert.txt", context),
        to=(lead, manager),
    )


def _lead_of(manager: Any) -> Any:
    """The manager's lead, when they have one with an e-mail address (else nobody to alert)."""
    if manager is None:
        return None
    profile = StaffProfile.objects.select_related("lead").filter(user=manager).first()
    lead = profile.lead if profile is not None else None
    return lead if lead is not None and lead.email else None


def _mail_once(*, claim: QuerySet[Any], subject: str, message: str, to: tuple[Any, ...]) -> bool:
    """Send the mail if the claim (a conditional UPDATE of alert_sent_at) takes the row."""
    recipients = sorted({user.email for user in to if user is not None and user.email})
    with transaction.atomic():
        # The conditional UPDATE is the claim, and locks the row until the commit: a concurrent run
        # waits, then finds it taken; a redelivered task finds it taken and sends nothing.
        if not claim.update(alert_sent_at=timezone.now()):
            return False
        # An exception here (SMTPException, ConnectionError, any OSError) rolls the claim back.
        send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            connection=get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or MAIL_TIMEOUT_SECONDS),
        )
    return True


# --- Alerts whose task was lost -----------------------------------------------------------------


@dataclass
class OverdueAlerts:
    """What one recovery run did: alerts sent, and mails that failed (left for the next run)."""

    sent: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _has_a_lead(manager_field: str) -> Exists:
    """The manager (a user id in `manager_field` of the outer row) has a lead with an e-mail address."""
    return Exists(
        StaffProfile.objects.filter(user_id=OuterRef(manager_field), lead__isnull=False).exclude(lead__email="")
    )


def _overdue_at_risk_calls(*, now: dt.datetime, after: dt.timedelta = ALERT_OVERDUE_AFTER) -> QuerySet[Touchpoint]:
    """ "At risk" calls logged between ALERTS_RECOVERED_WITHIN and `after` ago whose lead has not
    been alerted, oldest first (index touchpoint_alert_unsent). Calls with nobody to alert are left
    out, so that they never crowd out the others."""
    return (
        Touchpoint.objects.filter(
            outcome=Touchpoint.Outcome.AT_RISK,
            alert_sent_at__isnull=True,
            completed_at__lt=now - after,
            completed_at__gte=now - ALERTS_RECOVERED_WITHIN,
        )
        .annotate(manager_id=Coalesce("completed_by_id", "assignee_id"))
        .filter(_has_a_lead("manager_id"))
        .order_by("completed_at", "pk")
    )


def _overdue_red_entries(*, now: dt.datetime, after: dt.timedelta = ALERT_OVERDUE_AFTER) -> QuerySet[HealthBandChange]:
    """Entries into red reacted to between ALERTS_RECOVERED_WITHIN and `after` ago whose lead has
    not been alerted, oldest first (index healthbandchange_alert_unsent)."""
    return (
        HealthBandChange.objects.filter(
            to_band=RED,
            reacted_at__isnull=False,
            alert_sent_at__isnull=True,
            reacted_at__lt=now - after,
            reacted_at__gte=now - ALERTS_RECOVERED_WITHIN,
        )
        .filter(_has_a_lead("customer__account_manager_id"))
        .order_by("reacted_at", "pk")
    )


def alerts_send_overdue(
    *, now: dt.datetime | None = None, after: dt.timedelta = ALERT_OVERDUE_AFTER, limit: int = ALERTS_PER_RUN
) -> OverdueAlerts:
    """Send the alerts whose task was lost (or gave up), each through its claim: a run twice, at
    once, or alongside the late task sends each alert once. A mail that fails is logged and left
    for the next run; after FAILURES_PER_RUN failures the run stops."""
    now = now or timezone.now()
    done = OverdueAlerts()
    work: list[tuple[str, Callable[[int], bool], list[int]]] = [
        (
            "at-risk call",
            lambda pk: send_at_risk_alert(touchpoint_id=pk),
            list(_overdue_at_risk_calls(now=now, after=after).values_list("pk", flat=True)[:limit]),
        ),
        (
            "red band change",
            lambda pk: send_health_alert(band_change_id=pk),
            list(_overdue_red_entries(now=now, after=after).values_list("pk", flat=True)[:limit]),
        ),
    ]
    for what, send, ids in work:
        for pk in ids:
            try:
                done.sent += send(pk)
            except OSError as exc:  # SMTPException, ConnectionError, timeouts: the mail server failed
                done.failed += 1
                log.warning("alert for %s %s not sent (tried again later): %s: %s", what, pk, type(exc).__name__, exc)
                if done.failed >= FAILURES_PER_RUN:
                    return done
    if done.sent:
        log.info("sent %d alert(s) whose task was lost", done.sent)
    return done
