"""E-mail the account manager's lead when a call finds a customer at risk (once per call), or when
a customer enters the red health band (once per band change).

The alert is recorded as sent only once the mail went out: the claim (alert_sent_at) and the
sending are one transaction. A mail server that fails raises, the claim rolls back, and the task
retries (campaigns.tasks.send_at_risk_alert); a second run meanwhile waits on the claimed row and
then finds it taken, so the lead hears once.
"""

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
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
    profile = StaffProfile.objects.select_related("lead").filter(user=manager).first() if manager else None
    lead = profile.lead if profile is not None else None
    recipients = [user.email for user in (lead, manager) if user is not None and user.email]
    if lead is None or not lead.email:
        return False
    context = {"touchpoint": touchpoint, "customer": touchpoint.customer, "manager": manager, "lead": lead}
    message = render_to_string("campaigns/at_risk_alert.txt", context)
    with transaction.atomic():
        # The conditional UPDATE is the claim, and locks the row until the commit: a concurrent run
        # waits, then finds it taken; a redelivered task finds it taken and sends nothing.
        claimed = Touchpoint.objects.filter(pk=touchpoint.pk, alert_sent_at__isnull=True).update(
            alert_sent_at=timezone.now()
        )
        if not claimed:
            return False
        # An exception here (SMTPException, ConnectionError, any OSError) rolls the claim back.
        send_mail(
            subject=f"nurture: {touchpoint.customer.full_name} is at risk",
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=sorted(set(recipients)),
            connection=get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or MAIL_TIMEOUT_SECONDS),
        )
    return True


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
    profile = StaffProfile.objects.select_related("lead").filter(user=manager).first() if manager else None
    lead = profile.lead if profile is not None else None
    if lead is None or not lead.email:
        return False
    recipients = [user.email for user in (lead, manager) if user is not None and user.email]
    health = getattr(customer, "health", None)
    reasons = [line for line in (health.details if health else []) if line.get("effect", 0) < 0]
    context = {"change": change, "customer": customer, "manager": manager, "lead": lead, "reasons": reasons}
    message = render_to_string("campaigns/health_alert.txt", context)
    with transaction.atomic():
        claimed = HealthBandChange.objects.filter(pk=change.pk, alert_sent_at__isnull=True).update(
            alert_sent_at=timezone.now()
        )
        if not claimed:
            return False
        send_mail(
            subject=f"nurture: {customer.full_name} entered the red health band",
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=sorted(set(recipients)),
            connection=get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or MAIL_TIMEOUT_SECONDS),
        )
    return True
