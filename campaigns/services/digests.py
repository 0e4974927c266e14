"""The morning digest: each account manager's calls due today and overdue, by e-mail."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.models import DigestDelivery, Touchpoint


def digest_date() -> dt.date:
    return timezone.localdate()


def recipients() -> list[int]:
    """Active users with pending calls assigned to them."""
    return sorted(
        set(
            Touchpoint.objects.pending()
            .calls()
            .filter(assignee__is_active=True)
            .exclude(assignee__email="")
            .values_list("assignee_id", flat=True)
            .distinct()
        )
    )


def send_digest(*, user_id: int, date: dt.date, now: dt.datetime | None = None) -> bool:
    """Send one digest, at most once per user and day. Returns False when there was nothing to do."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    now = now or timezone.now()
    calls = (
        Touchpoint.objects.assigned_to(user)
        .visible_to(user)
        .calls()
        .select_related("customer", "rule")
        .order_by("due_on", "id")
    )
    due_today = list(calls.due_today(now)[:200])
    overdue = list(calls.overdue(now)[:200])
    if not due_today and not overdue:
        return False
    context = {"user": user, "date": date, "due_today": due_today, "overdue": overdue}
    # The unique (user, date) row is the claim, and it commits with the mail or not at all: a
    # second run, concurrent or later, stops at the claim; a mail server that fails rolls the
    # claim back, so the task's retry sends the digest instead of finding it "sent".
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = DigestDelivery.objects.create(
                    user=user, date=date, calls_due=len(due_today), calls_overdue=len(overdue)
                )
        except IntegrityError:
            return False
        send_mail(
            subject=f"nurture: {len(due_today)} calls due today, {len(overdue)} overdue",
            message=render_to_string("campaigns/digest.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
        DigestDelivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now())
    return True
