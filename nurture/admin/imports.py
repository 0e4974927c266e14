"""The customer import in the admin: upload -> check (a worker's dry run) -> confirm -> import (a worker).

The upload only stores the file and queues its check (nurture.services.import_jobs): a file of a
hundred thousand rows never holds a request up. The job's page follows the worker: while it works
the page refreshes itself (status.json gives the same progress as JSON), then it shows what
importing would do, or every bad row, with the confirm button; once imported, what was done. The
import stays all rows or none. Only users who see every customer may import (a file matches
customers on external_id, whoever manages them, and may reassign them), and each sees only their
own uploads.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from nurture.admin.base import acting_user
from nurture.lib.csvsafe import csv_cell
from nurture.models import ImportJob, MilestoneKind
from nurture.querysets import sees_all_customers
from nurture.services.import_jobs import ImportJobError, import_job_confirm, import_job_create
from nurture.services.importing import ChangedRow, ImportResult, RowError

IMPORT_MAX_BYTES = 50 * 1024 * 1024
# The page lists this many problems (every one is in the CSV of problems).
ERRORS_SHOWN = 1000
# While a worker is at it, the job's page reloads itself this often (seconds).
REFRESH_SECONDS = 2
# The upload page lists this many of one's latest imports.
RECENT_JOBS = 5


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with a header row. Required columns: external_id, first_name, last_name. "
        "Optional: company, email, phone, address_line1, address_line2, city, region, postal_code, country, "
        "time_zone, account_manager (a username), tags (separated by ;), status; and one column per milestone "
        "kind, named by its code, holding a date (YYYY-MM-DD).",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.")
        return upload


def can_import(request: HttpRequest) -> bool:
    user = request.user
    return sees_all_customers(user) and all(
        user.has_perm(perm)
        for perm in (
            "nurture.add_customer",
            "nurture.change_customer",
            "nurture.add_milestone",
            "nurture.change_milestone",
        )
    )


@dataclass(frozen=True)
class Preview:
    """What importing would do, from the job's dry run: the counts and the first rows that change."""

    result: ImportResult
    rows: list[ChangedRow]

    @property
    def changing(self) -> int:
        return self.result.changing

    @property
    def more(self) -> int:
        return self.changing - len(self.rows)


def job_preview(job: ImportJob) -> Preview:
    rows = [
        ChangedRow(**{**row, "milestones": [(str(kind), str(day)) for kind, day in row.get("milestones", [])]})
        for row in job.preview
    ]
    return Preview(result=ImportResult.from_counts(job.summary), rows=rows)


def job_problems(job: ImportJob) -> list[RowError]:
    return [RowError(int(line), str(column), str(message)) for line, column, message in job.problems]


def _job_url(job: ImportJob) -> str:
    return reverse("admin:nurture_customer_import_job", args=[job.pk])


def _own_job(request: HttpRequest, job_id: int) -> ImportJob:
    """The user's own import, or 404: an upload is seen and confirmed only by whoever made it."""
    if not can_import(request):
        raise PermissionDenied
    job: ImportJob | None = ImportJob.objects.uploaded_by(acting_user(request)).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import.")
    return job


def _import_context(request: HttpRequest, model_admin: admin.ModelAdmin[Any], **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Import customers from CSV",
        "changelist_url": reverse("admin:nurture_customer_changelist"),
        "import_url": reverse("admin:nurture_customer_import"),
        **extra,
    }


# --- The pages -------------------------------------------------------------------------------------


def import_view(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse:
    """Upload: store the file and queue its check, then follow it on the job's page."""
    if not can_import(request):
        raise PermissionDenied
    user = acting_user(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = import_job_create(upload=form.cleaned_data["file"], by=user)
        return HttpResponseRedirect(_job_url(job))
    kinds = list(MilestoneKind.objects.order_by("slug").values_list("slug", "name"))
    context = _import_context(
        request,
        model_admin,
        form=form,
        media=model_admin.media + form.media,
        kinds=kinds,
        recent=list(ImportJob.objects.uploaded_by(user).order_by("-created_at")[:RECENT_JOBS]),
    )
    return TemplateResponse(request, "admin/nurture/import/upload.html", context)


def job_view(request: HttpRequest, model_admin: admin.ModelAdmin[Any], job_id: int) -> HttpResponse:
    """The job's page: its progress, what importing would do (or every bad row), what was done."""
    job = _own_job(request, job_id)
    common = {
        "job": job,
        "file_name": job.original_name,
        "status_url": reverse("admin:nurture_customer_import_status", args=[job.pk]),
        "confirm_url": reverse("admin:nurture_customer_import_confirm", args=[job.pk]),
        "problems_url": reverse("admin:nurture_customer_import_problems", args=[job.pk]),
    }
    if job.working:
        context = _import_context(
            request, model_admin, title="Importing" if job.confirmed_at else "Checking the file", **common
        )
        context["refresh_seconds"] = REFRESH_SECONDS
        return TemplateResponse(request, "admin/nurture/import/progress.html", context)
    if job.state == ImportJob.State.DONE:
        result = ImportResult.from_counts(job.result)
        context = _import_context(request, model_admin, title="Imported", result=result, **common)
        return TemplateResponse(request, "admin/nurture/import/done.html", context)
    errors = job_problems(job)
    preview = job_preview(job) if job.state == ImportJob.State.CHECKED else None
    context = _import_context(
        request,
        model_admin,
        title="Check the import",
        preview=preview,
        errors=errors[:ERRORS_SHOWN],
        error_count=len(errors),
        bad_lines=len({error.line for error in errors}),
        **common,
    )
    return TemplateResponse(request, "admin/nurture/import/preview.html", context)


def job_status_view(request: HttpRequest, job_id: int) -> JsonResponse:
    """The job's progress as JSON, for scripts and monitors; the page shows the same."""
    job = _own_job(request, job_id)
    return JsonResponse(
        {
            "id": job.pk,
            "state": job.state,
            "step": job.step,
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": job.percent,
            "working": job.working,
            "problems": len(job.problems),
            "url": _job_url(job),
        }
    )


@require_POST
def job_confirm_view(request: HttpRequest, model_admin: admin.ModelAdmin[Any], job_id: int) -> HttpResponse:
    """Confirm a checked import: a worker imports it; the job's page follows it."""
    job = _own_job(request, job_id)
    try:
        import_job_confirm(job=job, by=acting_user(request))
    except ImportJobError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    return HttpResponseRedirect(_job_url(job))


class _Echo:
    def write(self, text: str) -> str:
        return text


def job_problems_view(request: HttpRequest, job_id: int) -> StreamingHttpResponse:
    """Every bad row of the file as CSV (the page lists the first ERRORS_SHOWN)."""
    job = _own_job(request, job_id)

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(["line", "column", "problem"])
        for error in job_problems(job):
            cells = [str(error.line) if error.line else "header", error.column, error.message]
            yield writer.writerow([csv_cell(cell) for cell in cells])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-problems.csv"'
    return response


def import_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    view = model_admin.admin_site.admin_view
    return [
        path("import/", view(lambda request: import_view(request, model_admin)), name="nurture_customer_import"),
        path(
            "import/<int:job_id>/",
            view(lambda request, job_id: job_view(request, model_admin, job_id)),
            name="nurture_customer_import_job",
        ),
        path("import/<int:job_id>/status.json", view(job_status_view), name="nurture_customer_import_status"),
        path(
            "import/<int:job_id>/confirm/",
            view(lambda request, job_id: job_confirm_view(request, model_admin, job_id)),
            name="nurture_customer_import_confirm",
        ),
        path("import/<int:job_id>/problems.csv", view(job_problems_view), name="nurture_customer_import_problems"),
    ]
