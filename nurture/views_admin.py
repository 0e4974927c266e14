"""Admin pages of the customer side: CSV import with a dry run, CSV export, the calendar feed page.

Import: upload -> preview (what would change, or every bad row) -> confirm -> import. The
uploaded file is kept under VAR_DIR/imports with a random name; the preview and the confirm
step refer to it with a signed token (who uploaded it, which file) that expires, never through
the session. The dry run and the import are nurture.importing's, all rows or none. Only users
who see every customer may import: a file matches customers on external_id, whoever manages
them, and may reassign them.

Export: "Export selected as CSV" (an admin action) and "Export all (filtered)" (a link on the
changelist, with the changelist's filters and search) of customers and touchpoints, streamed
row by row, scoped by the admin's get_queryset() (visible_to), with cells neutralised against
formula injection by nurture.csvsafe. The customer export has the import's columns, so a file
exported, edited and imported again changes only what was edited.
"""

from __future__ import annotations

import copy
import io
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from campaigns.management.commands.export_touchpoints import FIELDS as TOUCHPOINT_FIELDS
from campaigns.management.commands.export_touchpoints import records as touchpoint_records
from campaigns.models import Touchpoint
from nurture.csvsafe import write_csv
from nurture.feeds import feed_for, feed_reset
from nurture.importing import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportFailed,
    ImportResult,
    RowError,
    decode,
    import_customers,
    parse,
)
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList

IMPORT_SALT = "nurture.admin.import"
# How long a preview may be confirmed (seconds); files older than a day are swept away.
IMPORT_MAX_AGE = 3600
IMPORT_KEEP_SECONDS = 24 * 3600
IMPORT_MAX_BYTES = 50 * 1024 * 1024
# The preview lists this many of the rows that change, and this many problems.
PREVIEW_ROWS = 50
ERRORS_SHOWN = 1000
_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.csv$")
# Rows per piece of the streamed CSV, and per query with its prefetches.
EXPORT_CHUNK = 500


def signed_in_user(request: HttpRequest) -> AbstractBaseUser:
    user = request.user
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        raise PermissionDenied
    return user


def acting_user_pk(request: HttpRequest) -> int:
    return int(signed_in_user(request).pk)


# --- Import ------------------------------------------------------------------------------------


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


class ImportConfirmForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)


class ExpiredUpload(Exception):
    pass


def imports_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


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


def _sweep_old_uploads(folder: Path, *, now: float) -> None:
    for old in folder.glob("*.csv"):
        try:
            if now - old.stat().st_mtime > IMPORT_KEEP_SECONDS:
                old.unlink()
        except OSError:
            pass  # another request swept it first


def store_upload(upload: Any) -> str:
    """Write the upload under a random name; returns the name (not the path)."""
    folder = imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_old_uploads(folder, now=time.time())
    name = f"{secrets.token_hex(16)}.csv"
    with open(folder / name, "xb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return name


def upload_token(*, name: str, original: str, user_pk: int) -> str:
    return signing.dumps({"file": name, "name": original, "user": user_pk}, salt=IMPORT_SALT, compress=True)


def read_token(token: str, *, user_pk: int) -> tuple[Path, str]:
    """The stored file and its original name, or ExpiredUpload (bad, old, someone else's, gone)."""
    try:
        data = signing.loads(token, salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE)
    except signing.SignatureExpired:
        raise ExpiredUpload("The preview has expired: upload the file again.") from None
    except signing.BadSignature:
        raise ExpiredUpload("This upload link is not valid: upload the file again.") from None
    name = str(data.get("file", ""))
    if data.get("user") != user_pk or not _STORED_NAME.match(name):
        raise ExpiredUpload("This upload link is not valid: upload the file again.")
    stored = imports_dir() / name
    if not stored.is_file():
        raise ExpiredUpload("The uploaded file is gone (already imported, or swept away): upload it again.")
    return stored, str(data.get("name", name))


@dataclass(frozen=True)
class PreviewRow:
    line: int
    external_id: str
    name: str
    company: str
    action: str  # "new", "update", "unchanged"
    milestones: list[tuple[str, str]]


@dataclass(frozen=True)
class Preview:
    result: ImportResult
    rows: list[PreviewRow]
    changing: int

    @property
    def more(self) -> int:
        return self.changing - len(self.rows)


def import_preview(data: bytes) -> Preview:
    """What importing would do, row by row (the first rows that change), from a dry run.

    The dry run is nurture.importing's own, rolled back; it reports which existing customers
    would change, so the preview never disagrees with the import.
    """
    result = import_customers(data=data, dry_run=True)
    parsed = parse(decode(data))
    existing: dict[str, int] = {}
    ids = [row.external_id for row in parsed]
    for start in range(0, len(ids), 1000):
        existing.update(
            Customer.objects.filter(external_id__in=ids[start : start + 1000]).values_list("external_id", "pk")
        )
    changed = set(result.changed_customer_ids)
    kinds = dict(MilestoneKind.objects.values_list("pk", "name"))
    rows: list[PreviewRow] = []
    changing = 0
    for row in parsed:
        pk = existing.get(row.external_id)
        action = "new" if pk is None else "update" if pk in changed else "unchanged"
        if action == "unchanged":
            continue
        changing += 1
        if len(rows) < PREVIEW_ROWS:
            rows.append(
                PreviewRow(
                    line=row.line,
                    external_id=row.external_id,
                    name=f"{row.values.get('first_name', '')} {row.values.get('last_name', '')}".strip(),
                    company=row.values.get("company", ""),
                    action=action,
                    milestones=[
                        (kinds.get(kind, "?"), day.isoformat()) for kind, day in sorted(row.milestones.items())
                    ],
                )
            )
    return Preview(result=result, rows=rows, changing=changing)


def _import_context(request: HttpRequest, model_admin: admin.ModelAdmin[Any], **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Import customers from CSV",
        "changelist_url": reverse("admin:nurture_customer_changelist"),
        "import_url": reverse("admin:nurture_customer_import"),
        **extra,
    }


def import_view(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse:
    """Upload (GET, POST file) -> preview (GET ?token=) -> confirm (POST token)."""
    if not can_import(request):
        raise PermissionDenied
    user_pk = acting_user_pk(request)
    if request.method == "POST" and "token" in request.POST:
        return _confirm(request, model_admin, user_pk)
    token = request.GET.get("token")
    if request.method == "GET" and token:
        return _preview(request, model_admin, token, user_pk)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name = store_upload(upload)
        token = upload_token(name=name, original=str(upload.name), user_pk=user_pk)
        return HttpResponseRedirect(f"{reverse('admin:nurture_customer_import')}?token={token}")
    kinds = list(MilestoneKind.objects.order_by("slug").values_list("slug", "name"))
    context = _import_context(request, model_admin, form=form, media=model_admin.media + form.media, kinds=kinds)
    return TemplateResponse(request, "admin/nurture/import/upload.html", context)


def _preview(request: HttpRequest, model_admin: admin.ModelAdmin[Any], token: str, user_pk: int) -> HttpResponse:
    try:
        stored, original = read_token(token, user_pk=user_pk)
    except ExpiredUpload as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:nurture_customer_import"))
    errors: Sequence[RowError] = []
    preview: Preview | None = None
    try:
        preview = import_preview(stored.read_bytes())
    except ImportFailed as exc:
        errors = exc.errors
    context = _import_context(
        request,
        model_admin,
        title="Check the import",
        file_name=original,
        preview=preview,
        errors=errors[:ERRORS_SHOWN],
        error_count=len(errors),
        bad_lines=len({error.line for error in errors}),
        confirm_form=ImportConfirmForm(initial={"token": token}),
    )
    return TemplateResponse(request, "admin/nurture/import/preview.html", context)


def _confirm(request: HttpRequest, model_admin: admin.ModelAdmin[Any], user_pk: int) -> HttpResponse:
    form = ImportConfirmForm(request.POST)
    if not form.is_valid():
        return HttpResponseRedirect(reverse("admin:nurture_customer_import"))
    token = form.cleaned_data["token"]
    try:
        stored, original = read_token(token, user_pk=user_pk)
    except ExpiredUpload as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:nurture_customer_import"))
    try:
        result = import_customers(data=stored.read_bytes(), dry_run=False)
    except ImportFailed:
        # The data changed since the preview (a user or a milestone kind went away): show why.
        model_admin.message_user(
            request, "Nothing was imported: the file no longer imports cleanly. See the problems below.", messages.ERROR
        )
        return HttpResponseRedirect(f"{reverse('admin:nurture_customer_import')}?token={token}")
    stored.unlink(missing_ok=True)
    model_admin.message_user(request, f"{original}: {result.summary()}", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:nurture_customer_changelist"))


# --- Export ------------------------------------------------------------------------------------


def _csv_text(rows: Iterable[Mapping[str, object]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    write_csv(rows, buffer, fields=fields)
    return buffer.getvalue()


def stream_csv(rows: Iterable[Mapping[str, object]], fields: Sequence[str]) -> Iterator[str]:
    """CSV text in pieces of EXPORT_CHUNK rows, each written by csvsafe.write_csv (header once)."""
    header = _csv_text([], fields)
    yield header
    iterator = iter(rows)
    while chunk := list(islice(iterator, EXPORT_CHUNK)):
        yield _csv_text(chunk, fields).removeprefix(header)


def customer_fields() -> list[str]:
    """The import's columns, milestone kinds last: an export imports back unchanged."""
    kinds = list(MilestoneKind.objects.order_by("slug").values_list("slug", flat=True))
    return [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *kinds]


def customer_records(queryset: QuerySet[Customer], kinds: Sequence[str]) -> Iterator[dict[str, object]]:
    """One row per customer; a milestone kind's column holds its latest date (the one imports move)."""
    customers = queryset.select_related("account_manager").prefetch_related(
        "tags", Prefetch("milestones", queryset=Milestone.objects.select_related("kind").order_by("date", "id"))
    )
    for customer in customers.iterator(chunk_size=EXPORT_CHUNK):
        dates = {milestone.kind.slug: milestone.date.isoformat() for milestone in customer.milestones.all()}
        manager = customer.account_manager
        yield {
            "external_id": customer.external_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "company": customer.company,
            "email": customer.email,
            "phone": customer.phone,
            "address_line1": customer.address_line1,
            "address_line2": customer.address_line2,
            "city": customer.city,
            "region": customer.region,
            "postal_code": customer.postal_code,
            "country": customer.country,
            "time_zone": customer.time_zone,
            "account_manager": manager.get_username() if manager is not None else "",
            "tags": ";".join(sorted(tag.slug for tag in customer.tags.all())),
            "status": customer.status,
            **{slug: dates.get(slug, "") for slug in kinds},
        }


def export_response(queryset: QuerySet[Any]) -> StreamingHttpResponse:
    """The queryset (already scoped to the user) as a streamed CSV download."""
    stamp = timezone.localdate().isoformat()
    if queryset.model is Customer:
        fields = customer_fields()
        rows: Iterator[Mapping[str, object]] = customer_records(queryset, fields[16:])
        name = f"customers-{stamp}.csv"
    elif queryset.model is Touchpoint:
        fields = list(TOUCHPOINT_FIELDS)
        rows = touchpoint_records(queryset.select_related("customer", "rule", "assignee"))  # type: ignore[arg-type]
        name = f"touchpoints-{stamp}.csv"
    else:
        raise ValueError(f"no CSV export for {queryset.model.__name__}")
    response = StreamingHttpResponse(stream_csv(rows, fields), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@admin.action(description="Export selected as CSV", permissions=["view"])
def export_selected_csv(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> StreamingHttpResponse:
    return export_response(queryset)


def filtered_queryset(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> QuerySet[Any]:
    """The changelist's rows for this request's filters, search and ordering, without counting them.

    Built by the admin's own ChangeList (so it is scoped by get_queryset() and filtered exactly
    like the list the user looked at), minus its pagination: get_results() would COUNT the rows.
    """
    base = model_admin.get_changelist(request)

    class Uncounted(base):  # type: ignore[valid-type,misc]
        def get_results(self, request: HttpRequest) -> None:
            self.result_count = 0
            self.result_list: list[Any] = []

    shadow = copy.copy(model_admin)
    setattr(shadow, "get_changelist", lambda request, **kwargs: Uncounted)  # noqa: B010
    changelist: ChangeList = shadow.get_changelist_instance(request)
    queryset: QuerySet[Any] = changelist.queryset
    return queryset


def export_view(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse | StreamingHttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        queryset = filtered_queryset(model_admin, request)
    except IncorrectLookupParameters:
        model_admin.message_user(request, "These filters are not valid; nothing was exported.", messages.ERROR)
        info = (model_admin.opts.app_label, model_admin.opts.model_name)
        return HttpResponseRedirect(reverse("admin:{}_{}_changelist".format(*info)))
    return export_response(queryset)


def customer_admin_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    view = model_admin.admin_site.admin_view
    return [
        path("import/", view(lambda request: import_view(request, model_admin)), name="nurture_customer_import"),
        path("export/", view(lambda request: export_view(request, model_admin)), name="nurture_customer_export"),
    ]


def touchpoint_admin_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    view = model_admin.admin_site.admin_view
    return [
        path("export/", view(lambda request: export_view(request, model_admin)), name="campaigns_touchpoint_export"),
    ]


# --- My calendar feed --------------------------------------------------------------------------


def calendar_feed_page(request: HttpRequest) -> HttpResponse:
    """The user's private calendar URL, and a button that replaces it (the old one stops working)."""
    user = signed_in_user(request)
    if not request.user.has_perm("campaigns.view_touchpoint"):
        raise PermissionDenied
    if request.method == "POST":
        feed_reset(user=user)
        messages.success(request, "Your calendar URL was reset: the old one no longer works. Subscribe to the new one.")
        return HttpResponseRedirect(reverse("my-calendar-feed"))
    feed = feed_for(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "My calendar feed",
        "feed": feed,
        "feed_url": request.build_absolute_uri(reverse("calendar-feed", args=[feed.token])),
        "today_url": reverse("today"),
    }
    return TemplateResponse(request, "admin/feed/my_feed.html", context)
