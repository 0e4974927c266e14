"""The Reports pages: the list of reports, each report with its chart and tables, the chart as SVG
and the report as CSV.

Wrapped in admin.site.admin_view by campaigns/urls.py. Every figure is scoped to the viewer
(campaigns.selectors.reports.base.visible_managers): an account manager sees their own, a lead
their team, an administrator everyone. The chart is an <img> of an SVG URL, so the admin's
Content-Security-Policy holds; the table beneath has the same numbers.
"""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from campaigns.charts import render_svg
from campaigns.models import Cadence
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import (
    Cell,
    ReportDefinition,
    ReportError,
    ReportFilters,
    flat_records,
    manager_choices,
    months_before,
    resolve_filters,
)
from campaigns.services.report_packs import report_pack_pdf
from nurture.admin.base import acting_user
from nurture.lib.csvsafe import write_csv
from nurture.models import MilestoneKind
from nurture.querysets import sees_all_customers, user_has_perm

FILTER_PARAMS = ("from", "to", "manager", "kind", "cadence")


def _check_access(request: HttpRequest) -> None:
    user = request.user
    if not (sees_all_customers(user) or user_has_perm(user, "campaigns.view_touchpoint")):
        raise PermissionDenied


def _definition(name: str) -> ReportDefinition:
    definition = REPORTS.get(name)
    if definition is None:
        raise Http404(f"There is no report {name!r}.")
    return definition


def _date(request: HttpRequest, param: str, label: str) -> dt.date | None:
    raw = request.GET.get(param, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ReportError(f"The {label} date {raw!r} is not a date (YYYY-MM-DD).") from None


def _filters(request: HttpRequest) -> ReportFilters:
    return resolve_filters(
        viewer=acting_user(request),
        start=_date(request, "from", "start"),
        end=_date(request, "to", "end"),
        manager=request.GET.get("manager", "").strip(),
        kind=request.GET.get("kind", "").strip(),
        cadence=request.GET.get("cadence", "").strip(),
    )


def _query(request: HttpRequest) -> str:
    return urlencode({key: request.GET[key] for key in FILTER_PARAMS if request.GET.get(key)})


def _display(value: Cell) -> str:
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def reports_index_view(request: HttpRequest) -> HttpResponse:
    _check_access(request)
    today = timezone.localdate()
    context = {
        **admin.site.each_context(request),
        "title": "Reports",
        "reports": [(reverse("report", args=[d.name]), d) for d in REPORTS.values()],
        "pack_url": reverse("report-pack"),
        # The monthly pack of each of the last twelve months, the latest first.
        "pack_months": [months_before(today, n) for n in range(1, 13)],
    }
    return TemplateResponse(request, "admin/reports/index.html", context)


def report_view(request: HttpRequest, name: str) -> HttpResponse:
    _check_access(request)
    definition = _definition(name)
    error = ""
    try:
        filters = _filters(request)
    except ReportError as exc:
        error = str(exc)
        filters = resolve_filters(viewer=acting_user(request))
    report = definition.build(filters)
    query = "" if error else _query(request)
    suffix = f"?{query}" if query else ""
    context = {
        **admin.site.each_context(request),
        "title": report.title,
        "report": report,
        "error": error,
        "tables": [(table, [[_display(cell) for cell in row] for row in table.rows]) for table in report.tables],
        "chart_url": reverse("report-chart", args=[name]) + suffix if report.chart else "",
        "csv_url": reverse("report-csv", args=[name]) + suffix,
        "managers": manager_choices(acting_user(request)),
        "kinds": MilestoneKind.objects.order_by("name"),
        "cadences": Cadence.objects.order_by("name") if definition.cadence_filter else [],
        "selected": {key: request.GET.get(key, "") for key in FILTER_PARAMS},
        "index_url": reverse("reports"),
    }
    return TemplateResponse(request, "admin/reports/report.html", context, status=400 if error else 200)


def report_chart_view(request: HttpRequest, name: str) -> HttpResponse:
    _check_access(request)
    definition = _definition(name)
    try:
        filters = _filters(request)
    except ReportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    report = definition.build(filters)
    if report.chart is None:
        raise Http404(f"The {definition.title} report has no chart.")
    return HttpResponse(render_svg(report.chart), content_type="image/svg+xml")


def report_csv_view(request: HttpRequest, name: str) -> HttpResponse:
    _check_access(request)
    definition = _definition(name)
    try:
        filters = _filters(request)
    except ReportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    report = definition.build(filters)
    records = report.records
    fields = list(records[0]) if records else [key for key, _ in report.tables[0].columns]
    out = io.StringIO()
    write_csv(flat_records(records), out, fields=fields)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"{name}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def report_pack_view(request: HttpRequest) -> HttpResponse:
    """The monthly pack of ?month=YYYY-MM (default: last month) as the viewer sees the reports."""
    _check_access(request)
    raw = request.GET.get("month", "").strip()
    try:
        month = dt.date.fromisoformat(f"{raw}-01") if raw else months_before(timezone.localdate(), 1)
    except ValueError:
        return HttpResponse(
            f"The month {raw!r} is not a month (YYYY-MM).", status=400, content_type="text/plain; charset=utf-8"
        )
    pdf = report_pack_pdf(month=month, viewer=acting_user(request))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="nurture-reports-{month:%Y-%m}.pdf"'
    return response
