"""Admin of print batches: the print room builds a batch (a page of its own, or an action on
selected cards), watches it render, downloads the cards PDF, the labels and the manifest (served
through a permission-checked view, never from MEDIA_URL), and marks it printed and mailed.
Every write goes through campaigns.services.batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from campaigns.forms import BatchBuildForm
from campaigns.models import Batch, BatchChunk, Card
from campaigns.selectors.batch_files import Download, batch_downloads, batch_progress, batch_zip
from campaigns.services.batches import (
    BatchError,
    batch_create,
    batch_mark_mailed,
    batch_mark_printed,
    batch_rerender,
    default_label_format,
)
from campaigns.services.cards import (
    listing,
)
from campaigns.statuses import BATCH_RENDERING
from nurture.admin.base import ReadOnlyAdminMixin, acting_user
from nurture.admin.paginators import CappedCountPaginator

if TYPE_CHECKING:
    pass

# While a batch renders, its pages reload themselves this often (seconds).
REFRESH_SECONDS = 3
# How many unfit cards the "Build a batch" page names.
UNFIT_SHOWN = 10


def batch_built(model_admin: admin.ModelAdmin[Any], request: HttpRequest, batch: Batch) -> HttpResponseRedirect:
    message = ngettext(
        "Batch %(code)s: %(count)d card, rendering now.",
        "Batch %(code)s: %(count)d cards, rendering now.",
        batch.card_count,
    ) % {"code": batch.code, "count": batch.card_count}
    model_admin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:campaigns_batch_change", args=[batch.pk]))


class BatchChunkInline(ReadOnlyAdminMixin, admin.TabularInline[BatchChunk, Batch]):
    model = BatchChunk
    fields = ["index", "kind", "first_sequence", "last_sequence", "rendered_at"]
    readonly_fields = ["index", "kind", "first_sequence", "last_sequence", "rendered_at"]
    extra = 0
    can_delete = False
    classes = ["collapse"]


DOWNLOADS = {
    "cards": ("cards_pdf", "application/pdf", "cards.pdf"),
    "labels": ("labels_pdf", "application/pdf", "labels.pdf"),
    "manifest": ("manifest_csv", "text/csv", "manifest.csv"),
    "zones": ("zones_csv", "text/csv", "zones.csv"),
}
DOWNLOAD_LABELS = {
    "cards": "cards PDF",
    "labels": "labels PDF",
    "manifest": "manifest CSV",
    "zones": "cards per postal zone CSV",
}


def download_url(batch: Batch, download: Download) -> str:
    if download.kind == "file":
        return reverse("admin:campaigns_batch_download_file", args=[batch.pk, download.index + 1])
    return reverse("admin:campaigns_batch_download", args=[batch.pk, download.kind])


def download_label(batch: Batch, download: Download) -> str:
    if download.kind == "file":
        return f"print file {download.index + 1} of {batch.file_count}"
    return DOWNLOAD_LABELS[download.kind]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "working it out"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


BATCH_FIELDS: tuple[str, ...] = (
    "code",
    "status",
    "progress",
    "downloads",
    "error",
    "withdrawn",
    "due_by",
    "sheet",
    "labels",
    "order",
    "card_count",
    "created_by",
    "created_at",
    "rendered_at",
    "printed_at",
    "mailed_at",
    "retry_link",
)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin[Batch]):
    paginator = CappedCountPaginator
    list_display = [
        "code",
        "status",
        "due_by",
        "card_count",
        "progress",
        "sheet",
        "labels",
        "order",
        "created_at",
        "downloads",
    ]
    list_display_links = ["code"]
    list_filter = ["status", "sheet", "labels", "order"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["mark_printed", "mark_mailed", "rerender_failed"]
    inlines = [BatchChunkInline]
    fields = BATCH_FIELDS
    readonly_fields = BATCH_FIELDS

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("build/", view(self.build_view), name="campaigns_batch_build"),
            path("<int:pk>/progress.json", view(self.progress_view), name="campaigns_batch_progress"),
            path("<int:pk>/download/<str:kind>/", view(self.download_view), name="campaigns_batch_download"),
            path(
                "<int:pk>/download/file/<int:number>/",
                view(self.download_file_view),
                name="campaigns_batch_download_file",
            ),
            path("<int:pk>/download/all.zip", view(self.download_zip_view), name="campaigns_batch_download_zip"),
            *super().get_urls(),
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        return False  # history; a batch's cards point at it

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        return self.build_view(request)  # "Add batch" is "Build a batch"

    def _rendering(self, obj: Batch | None) -> bool:
        return obj is not None and obj.status in BATCH_RENDERING

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            return HttpResponseRedirect(request.get_full_path())  # nothing on this page is editable
        obj = self.get_object(request, object_id) if object_id else None
        extra = {**(extra_context or {}), "refresh_seconds": REFRESH_SECONDS if self._rendering(obj) else None}
        return super().changeform_view(request, object_id, form_url, extra)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        rendering = Batch.objects.rendering().exists()
        extra = {
            **(extra_context or {}),
            "refresh_seconds": REFRESH_SECONDS if rendering and request.method == "GET" else None,
            "build_url": reverse("admin:campaigns_batch_build"),
        }
        return super().changelist_view(request, extra)

    # --- Columns ------------------------------------------------------------------------------

    @admin.display(description="batch", ordering="pk")
    def code(self, obj: Batch) -> str:
        return obj.code

    @admin.display(description="progress")
    def progress(self, obj: Batch) -> str:
        if obj.chunk_count == 0:
            return "-"
        if obj.status == Batch.Status.FAILED:
            return "failed"
        figures = batch_progress(obj, now=timezone.now())
        files = f"{obj.files_done}/{obj.file_count} files · " if obj.file_count else ""
        rate = figures["cards_per_second"]
        speed = (
            f" · {rate:g} cards/s, {duration(figures['seconds_left'])} left"
            if rate and obj.status in BATCH_RENDERING
            else ""
        )
        return format_html(
            '<span class="batch-progress" data-progress-url="{}">'
            '<progress value="{}" max="{}" title="cards rendered">{}/{}</progress> '
            '<span class="batch-progress-text">{}{}/{} cards{}</span></span>',
            reverse("admin:campaigns_batch_progress", args=[obj.pk]),
            obj.cards_done or obj.chunks_done,
            obj.card_count if obj.cards_done else obj.chunk_count,
            obj.cards_done,
            obj.card_count,
            files,
            obj.cards_done,
            obj.card_count,
            speed,
        )

    @admin.display(description="files")
    def downloads(self, obj: Batch) -> str:
        downloads = batch_downloads(obj)
        if not downloads:
            return "-"
        links = format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((download_url(obj, download), download_label(obj, download)) for download in downloads),
        )
        return format_html(
            '{} · <a href="{}">all as a ZIP</a>', links, reverse("admin:campaigns_batch_download_zip", args=[obj.pk])
        )

    @admin.display(description="withdrawn cards")
    def withdrawn(self, obj: Batch) -> str:
        cards = list(Card.objects.filter(batch=obj).withdrawn().order_by("sequence"))
        if not cards:
            return "none"
        return format_html(
            "<strong>Do not mail these cards</strong> (customer no longer contactable, or touchpoint cancelled): {}",
            ", ".join(f"{card.sequence_code} {card.recipient_name}" for card in cards),
        )

    @admin.display(description="re-rendered as")
    def retry_link(self, obj: Batch) -> str:
        retry = obj.retries.first()
        if retry is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:campaigns_batch_change", args=[retry.pk]), retry.code)

    # --- Views --------------------------------------------------------------------------------

    def build_view(self, request: HttpRequest) -> HttpResponse:
        """Build a batch of every approved card due by a date; shows what qualifies first."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        building = request.method == "POST" and "build" in request.POST
        form = BatchBuildForm(request.POST if request.method == "POST" else None)
        due_by = form.fields["due_by"].initial()
        if form.is_valid():
            due_by = form.cleaned_data["due_by"]
            if building:
                try:
                    batch = batch_create(
                        due_by=due_by,
                        sheet=form.cleaned_data["sheet"],
                        labels=form.cleaned_data["labels"],
                        order=form.cleaned_data["order"],
                        by=acting_user(request),
                    )
                except BatchError as exc:
                    form.add_error(None, str(exc))
                else:
                    return batch_built(self, request, batch)
        queue = Card.objects.printable(due_by)
        unfit = list(queue.unfit().select_related("touchpoint").order_by("touchpoint__due_on", "pk")[:UNFIT_SHOWN])
        context = {
            **self.admin_site.each_context(request),
            "title": "Build a print batch",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "due_by": due_by,
            "qualifying": queue.exclude(fits=False).count(),
            "unchecked": queue.filter(fits__isnull=True).count(),
            "unfit": unfit,
            "unfit_count": queue.unfit().count(),
            "default_labels": {sheet: default_label_format(sheet) for sheet in Batch.Sheet.values},
            "changelist_url": reverse("admin:campaigns_batch_changelist"),
        }
        return TemplateResponse(request, "admin/campaigns/batch/build.html", context)

    def _batch(self, request: HttpRequest, pk: int) -> Batch:
        batch: Batch | None = Batch.objects.filter(pk=pk).first()
        if batch is None:
            raise Http404("No such batch.")
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        return batch

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """The batch page's progress (polled by config/static/config/batch-progress.js)."""
        batch = self._batch(request, pk)
        downloads = batch_downloads(batch)
        return JsonResponse(
            {
                **batch_progress(batch, now=timezone.now()),
                "downloads": [
                    {"label": download_label(batch, download), "url": download_url(batch, download)}
                    for download in downloads
                ],
                "zip_url": reverse("admin:campaigns_batch_download_zip", args=[batch.pk]) if downloads else "",
            }
        )

    def download_file_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponseBase:
        """One print file (numbered from 1), as soon as it is joined."""
        batch = self._batch(request, pk)
        print_file = batch.files.filter(index=number - 1).first()
        if print_file is None:
            raise Http404("No such print file.")
        if not print_file.pdf or not default_storage.exists(print_file.pdf.name):
            self.message_user(request, f"Print file {number} of batch {batch.code} is not there yet.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:campaigns_batch_change", args=[batch.pk]))
        return FileResponse(
            default_storage.open(print_file.pdf.name, "rb"),
            as_attachment=True,
            filename=print_file.download_name,
            content_type="application/pdf",
        )

    def download_zip_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """Every file there is to download now, as one ZIP written while it is sent."""
        batch = self._batch(request, pk)
        downloads = [d for d in batch_downloads(batch) if default_storage.exists(d.stored)]
        if not downloads:
            self.message_user(request, f"Batch {batch.code} has no files yet.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:campaigns_batch_change", args=[batch.pk]))
        response = StreamingHttpResponse(batch_zip(downloads), content_type="application/zip")
        partial = "" if batch.status in (Batch.Status.READY, Batch.Status.PRINTED, Batch.Status.MAILED) else "-so-far"
        response["Content-Disposition"] = f'attachment; filename="{batch.code}-files{partial}.zip"'
        return response

    def download_view(self, request: HttpRequest, pk: int, kind: str) -> HttpResponseBase:
        batch = self._batch(request, pk)
        if kind not in DOWNLOADS:
            raise Http404("No such file.")
        field_name, content_type, suffix = DOWNLOADS[kind]
        file = getattr(batch, field_name)
        if not file or not default_storage.exists(file.name):
            self.message_user(
                request,
                f"The {kind} file of batch {batch.code} is not there"
                + (
                    " yet."
                    if batch.status not in (Batch.Status.READY, Batch.Status.PRINTED, Batch.Status.MAILED)
                    else f": restore it with `manage.py print_batch --batch {batch.pk} --output ...`."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:campaigns_batch_change", args=[batch.pk]))
        return FileResponse(
            default_storage.open(file.name, "rb"),
            as_attachment=True,
            filename=f"{batch.code}-{suffix}",
            content_type=content_type,
        )

    # --- Actions ------------------------------------------------------------------------------

    def _each(self, request: HttpRequest, queryset: QuerySet[Batch], verb: str, service: Any) -> list[Any]:
        done, results = [], []
        for batch in queryset.order_by("pk"):
            try:
                results.append(service(batch=batch, by=acting_user(request)))
            except BatchError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                done.append(batch.code)
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}.", messages.SUCCESS)
        return results

    @admin.action(description="Mark printed", permissions=["change"])
    def mark_printed(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        self._each(request, queryset, "Marked printed", batch_mark_printed)

    @admin.action(description="Mark mailed (cards mailed, touchpoints done)", permissions=["change"])
    def mark_mailed(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        for result in self._each(request, queryset, "Marked mailed", batch_mark_mailed):
            if result.withdrawn:
                self.message_user(
                    request,
                    f"Not mailed, take them out: {listing(result.withdrawn)} (customer no longer contactable).",
                    messages.WARNING,
                )

    @admin.action(description="Render failed batches again", permissions=["change"])
    def rerender_failed(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        for retry in self._each(request, queryset, "Rendering again", batch_rerender):
            self.message_user(request, f"{retry.retry_of.code} is rendering again as {retry.code}.", messages.INFO)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Batch | None = None,
    ) -> HttpResponse:
        context.update({"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False})
        return super().render_change_form(request, context, add, change, form_url, obj)
