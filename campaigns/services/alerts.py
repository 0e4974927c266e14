"""E-mail the account manager's lead when a call finds a customer at risk (once per call), or when
a customer enters the red health band (once per band change).

The alert is recorded as sent only once the mail went out: the claim (alert_sent_at) and the
sending are one transaction. A mail server that fails raises, the claim rolls back, and the task
retries (campaigns.tasks.send_at_risk_alert); a second run meanwhile waits on the claimed row and
then finds it taken, so the lead hears once.
"""

from typing import Any

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.models import HealthBandChange, Touchpoint
from nurture.models import StaffProfile

# The claimed row stays locked while the mail goes out: never wait on a mail server for longer.
MAIL_TIMEOUT_SECONDS = 30


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
    change = (
        HealthBandChange.objects.select_related("customer__account_manager", "customer__health")
        .filter(pk=band_change_id)
        .first()
    )
    if change is None:
        return False
    customer = change.customer
    manager = customer.account_manager
    lead = _lead_of(manager)
    if lead is None:
        return False
    health = getattr(customer, "health", None)
    reasons = [line for line in (health.details if health else []) if line.get("effect", 0) < 0]
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
