"""CSV export from any admin list: "Export selected as CSV" and "Export all (filtered)".

An admin takes ``CsvExportMixin`` and says what a row is (``csv_rows``). The rows are streamed
in pieces, scoped by the admin's get_queryset() (visible_to) and filtered like the list the user
looked at, with cells neutralised against formula injection by nurture.lib.csvsafe.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from nurture.lib.csvsafe import write_csv

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList

_M = TypeVar("_M", bound=models.Model)

# Rows per piece of the streamed CSV.
EXPORT_CHUNK = 500


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


def csv_response(*, name: str, fields: Sequence[str], rows: Iterable[Mapping[str, object]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream_csv(rows, fields), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate().isoformat()}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


@admin.action(description="Export selected as CSV", permissions=["view"])
def export_selected_csv(
    model_admin: CsvExportMixin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> StreamingHttpResponse:
    return model_admin.csv_export(queryset)


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


class CsvExportMixin(admin.ModelAdmin[_M]):
    """Adds the export action and an ``export/`` page (the list's "Export all (filtered)" link)."""

    actions: Any = [export_selected_csv]
    # The download is named "<csv_name>-<date>.csv".
    csv_name = "export"

    def csv_rows(self, queryset: QuerySet[_M]) -> tuple[list[str], Iterator[Mapping[str, object]]]:
        raise NotImplementedError

    def csv_export(self, queryset: QuerySet[_M]) -> StreamingHttpResponse:
        fields, rows = self.csv_rows(queryset)
        return csv_response(name=self.csv_name, fields=fields, rows=rows)

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        export = path("export/", self.admin_site.admin_view(self.export_view), name="{}_{}_export".format(*info))
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = filtered_queryset(self, request)
        except IncorrectLookupParameters:
            self.message_user(request, "These filters are not valid; nothing was exported.", messages.ERROR)
            info = (self.opts.app_label, self.opts.model_name)
            return HttpResponseRedirect(reverse("admin:{}_{}_changelist".format(*info)))
        return self.csv_export(queryset)
