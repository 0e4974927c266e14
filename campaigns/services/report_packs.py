"""The monthly report pack: every report of the past month in one PDF, e-mailed to the leads and
administrators on the first working day of the month, and downloadable from the Reports page.

Each recipient gets the pack as they would see the reports: a lead their team's figures, an
administrator everyone's. A pack reads the stored daily figures of a closed month, so the same
month gives the same numbers whenever it is made.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.charts import render_svg
from campaigns.models import ReportPackDelivery
from campaigns.printing import render_document_pdf
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import Report, months_before, resolve_filters
from nurture.lib.calendar import is_business_day
from nurture.roles import ADMINISTRATORS

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def month_end(month: dt.date) -> dt.date:
    return months_before(month, -1) - dt.timedelta(days=1)


def pack_month(today: dt.date) -> dt.date:
    """The month a pack sent on `today` covers: the month before."""
    return months_before(today, 1)


def is_first_working_day(day: dt.date) -> bool:
    """Monday to Friday, not a public holiday of settings.NURTURE_REPORTS_COUNTRY, and the first such
    day of its month."""
    country = settings.NURTURE_REPORTS_COUNTRY
    if not is_business_day(day, country):
        return False
    earlier = (day.replace(day=n) for n in range(1, day.day))
    return not any(is_business_day(other, country) for other in earlier)


def pack_recipients() -> list[int]:
    """Active users with an e-mail address who lead a team or administer nurture."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    leads = Q(team_members__isnull=False)
    administrators = (
        Q(is_superuser=True)
        | Q(groups__name=ADMINISTRATORS)
        | Q(user_permissions__codename="view_all_customers", user_permissions__content_type__app_label="nurture")
    )
    return sorted(set(users.filter(leads | administrators).values_list("pk", flat=True)))


def _chart_url(report: Report) -> str:
    if report.chart is None:
        return ""
    return "data:image/svg+xml;base64," + base64.b64encode(render_svg(report.chart, width=900, height=380)).decode()


def _display(value: Any) -> str:
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def report_pack_pdf(*, month: dt.date, viewer: AbstractBaseUser | None) -> bytes:
    """Every report of `month` (its first day) as `viewer` sees them (None: everyone), as one PDF."""
    month = month.replace(day=1)
    today = timezone.localdate()
    filters = resolve_filters(viewer=viewer, start=month, end=min(month_end(month), today), today=today)
    reports = [definition.build(filters) for definition in REPORTS.values()]
    html = render_to_string(
        "reports/pack.html",
        {
            "month": month,
            "filters": filters,
            "made_at": timezone.localtime(),
            "reports": [
                {
                    "report": report,
                    "chart_url": _chart_url(report),
                    "tables": [(table, [[_display(c) for c in row] for row in table.rows]) for table in report.tables],
                }
                for report in reports
            ],
        },
    )
    return render_document_pdf(html)


def report_pack_send(*, user_id: int, month: dt.date) -> bool:
    """E-mail one recipient the pack of `month`, at most once. False when there was nothing to do."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).exclude(email="").first()
    if user is None:
        return False
    month = month.replace(day=1)
    # The claim commits with the mail or not at all, as for the morning digest: a second run stops
    # at the claim, a mail server that fails rolls it back for the task's retry.
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = ReportPackDelivery.objects.create(user=user, month=month)
        except IntegrityError:
            return False
        pdf = report_pack_pdf(month=month, viewer=user)
        message = EmailMessage(
            subject=f"nurture: the reports of {month:%B %Y}",
            body=render_to_string("campaigns/report_pack.txt", {"user": user, "month": month}),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
        )
        message.attach(f"nurture-reports-{month:%Y-%m}.pdf", pdf, "application/pdf")
        message.send()
        ReportPackDelivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now())
    return True
