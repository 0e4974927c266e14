"""The customer import in the admin: upload -> preview -> confirm -> import, all rows or none.

Preview shows what would change, or every bad row. The uploaded file is kept under
VAR_DIR/imports with a random name; the preview and the confirm step refer to it with a signed
token (who uploaded it, which file) that expires, never through the session. The dry run and the
import are nurture.services.importing's. Only users who see every customer may import: a file
matches customers on external_id, whoever manages them, and may reassign them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from nurture.admin.base import acting_user
from nurture.models import Customer, MilestoneKind
from nurture.querysets import sees_all_customers
from nurture.services.importing import (
    ImportFailed,
    ImportResult,
    RowError,
    decode,
    import_customers,
    parse,
)

if TYPE_CHECKING:
    pass

IMPORT_SALT = "nurture.admin.import"
# How long a preview may be confirmed (seconds); files older than a day are swept away.
IMPORT_MAX_AGE = 3600
IMPORT_KEEP_SECONDS = 24 * 3600
IMPORT_MAX_BYTES = 50 * 1024 * 1024
# The preview lists this many of the rows that change, and this many problems.
PREVIEW_ROWS = 50
ERRORS_SHOWN = 1000
_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.csv$")


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

    The dry run is nurture.services.importing's own, rolled back; it reports which existing customers
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
    user_pk = int(acting_user(request).pk)
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


def import_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    view = model_admin.admin_site.admin_view
    return [path("import/", view(lambda request: import_view(request, model_admin)), name="nurture_customer_import")]
