"""E-mail the account manager's lead when a call finds a customer at risk. Sent once per call."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.models import Touchpoint
from nurture.models import StaffProfile


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
    # The conditional UPDATE is the claim: a redelivered task finds it taken and sends nothing.
    if not Touchpoint.objects.filter(pk=touchpoint.pk, alert_sent_at__isnull=True).update(alert_sent_at=timezone.now()):
        return False
    context = {"touchpoint": touchpoint, "customer": touchpoint.customer, "manager": manager, "lead": lead}
    send_mail(
        subject=f"nurture: {touchpoint.customer.full_name} is at risk",
        message=render_to_string("campaigns/at_risk_alert.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=sorted(set(recipients)),
    )
    return True
