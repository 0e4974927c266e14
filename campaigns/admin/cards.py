"""Admin for card designs, cards and print batches.

Account managers edit and approve their customers' cards (scoped like touchpoints). The print
room builds batches (a page of its own, or an action on selected cards), watches them render,
downloads the cards PDF, the labels and the manifest (served through a permission-checked view,
never from MEDIA_URL), and marks them printed and mailed. Every write goes through
campaigns.services.cards and campaigns.services.batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from campaigns.forms import BatchBuildForm, BatchOptionsForm, CardForm
from campaigns.models import Batch, BatchChunk, Card, CardDesign
from campaigns.querysets import CardQuerySet
from campaigns.services.batches import (
    BatchError,
    batch_create,
    batch_mark_mailed,
    batch_mark_printed,
    batch_rerender,
    default_label_format,
)
from campaigns.services.cards import CardError, card_approve, card_bulk_approve, card_update_message, listing
from nurture.admin.base import ScopedAdmin, acting_user
from nurture.admin.paginators import CappedCountPaginator
from nurture.lib.address import ADDRESS_FIELDS

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

# While a batch renders, its pages reload themselves this often (seconds).
REFRESH_SECONDS = 3
# Fields whose change alters the inside panel, so every open card's fit is checked again.
LAYOUT_FIELDS = {"format", "typeface"}
# How many unfit cards the "Build a batch" page names.
UNFIT_SHOWN = 10


# --- Designs ----------------------------------------------------------------------------------


@admin.register(CardDesign)
class CardDesignAdmin(admin.ModelAdmin[CardDesign]):
    list_display = ["name", "slug", "format", "artwork", "typeface", "active", "preview_links"]
    list_filter = ["active", "format", "artwork"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": [("name", "slug"), "format", "active"]}),
        ("Front", {"fields": ["artwork", "front_image", "headline", "accent_color"]}),
        ("Inside", {"fields": ["typeface"]}),
        ("Preview", {"fields": ["preview"], "description": "With sample data; save to see your changes."}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview.pdf", view(self.preview_pdf_view), name="campaigns_carddesign_preview_pdf"),
            path("<int:pk>/preview.png", view(self.preview_png_view), name="campaigns_carddesign_preview_png"),
            *super().get_urls(),
        ]

    def _design(self, request: HttpRequest, pk: int) -> CardDesign:
        design = CardDesign.objects.filter(pk=pk).first()
        if design is None:
            raise Http404("No such design.")
        if not self.has_view_permission(request, design):
            raise PermissionDenied
        return design

    def preview_pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from campaigns.printing.render import DesignSpec, render_design_preview_pdf

        design = self._design(request, pk)
        response = HttpResponse(render_design_preview_pdf(DesignSpec.from_design(design)), "application/pdf")
        response["Content-Disposition"] = f'inline; filename="{design.slug}-preview.pdf"'
        return response

    def preview_png_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from campaigns.printing.render import DesignSpec, render_design_preview_png

        design = self._design(request, pk)
        try:
            page = max(1, min(int(request.GET.get("page", "1")), 4))
            dpi = max(36, min(int(request.GET.get("dpi", "72")), 150))
        except ValueError:
            page, dpi = 1, 72
        return HttpResponse(render_design_preview_png(DesignSpec.from_design(design), page=page, dpi=dpi), "image/png")

    @admin.display(description="preview")
    def preview_links(self, obj: CardDesign) -> str:
        return format_html(
            '<a href="{}" target="_blank">PDF</a> · <a href="{}" target="_blank">PNG</a>',
            reverse("admin:campaigns_carddesign_preview_pdf", args=[obj.pk]),
            reverse("admin:campaigns_carddesign_preview_png", args=[obj.pk]),
        )

    @admin.display(description="preview")
    def preview(self, obj: CardDesign) -> str:
        if obj.pk is None:
            return "Save the design to preview it."
        png = reverse("admin:campaigns_carddesign_preview_png", args=[obj.pk])
        pdf = reverse("admin:campaigns_carddesign_preview_pdf", args=[obj.pk])
        version = int(obj.updated_at.timestamp())
        pages = "outside (front and back)" if not obj.is_postcard else "front"
        return format_html(
            '<img src="{}?page=1&v={}" alt="{}" style="max-width:420px;border:1px solid #ccc">'
            '<img src="{}?page=2&v={}" alt="inside" style="max-width:420px;border:1px solid #ccc;margin-left:8px">'
            '<p><a href="{}" target="_blank">Print-ready PDF with sample data</a></p>',
            png,
            version,
            pages,
            png,
            version,
            pdf,
        )

    def save_model(self, request: HttpRequest, obj: CardDesign, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and LAYOUT_FIELDS & set(form.changed_data):
            from campaigns.services.cards import cards_design_changed

            count = cards_design_changed(design=obj)
            if count:
                message = ngettext(
                    "The fit of %(count)d card's message will be checked again.",
                    "The fit of %(count)d cards' messages will be checked again.",
                    count,
                ) % {"count": count}
                self.message_user(request, message, messages.INFO)


# --- Cards ------------------------------------------------------------------------------------


CARD_SNAPSHOT_FIELDS = [
    "recipient_name",
    "recipient_company",
    *ADDRESS_FIELDS,
]


class FitFilter(admin.SimpleListFilter):
    title = "message fits"
    parameter_name = "fits"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Fits"), ("no", "Does not fit"), ("unknown", "Not checked yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        match self.value():
            case "yes":
                return queryset.filter(fits=True)
            case "no":
                return queryset.filter(fits=False)
            case "unknown":
                return queryset.filter(fits__isnull=True)
        return queryset


@admin.register(Card)
class CardAdmin(ScopedAdmin[Card]):
    paginator = CappedCountPaginator
    form = CardForm
    list_display = ["card", "sequence", "status", "fits_mark", "due_on", "design", "batch_link"]
    list_display_links = ["card"]
    list_filter = ["status", FitFilter, "design", "message_edited"]
    list_select_related = ["touchpoint", "design", "batch"]
    search_fields = ["recipient_name", "recipient_company", "touchpoint__customer__last_name", "=batch__id"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["approve_cards", "build_batch_from_selection"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Card]:
        return cast(CardQuerySet, super().get_queryset(request)).visible_to(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cards are drafted from card touchpoints

    def has_delete_permission(self, request: HttpRequest, obj: Card | None = None) -> bool:
        return False

    def has_build_batch_permission(self, request: HttpRequest) -> bool:
        return bool(getattr(request.user, "has_perm", lambda perm: False)("campaigns.add_batch"))

    def _editable(self, request: HttpRequest, obj: Card | None) -> bool:
        return (
            obj is not None
            and obj.status in (Card.Status.DRAFT, Card.Status.APPROVED)
            and self.has_change_permission(request, obj)
        )

    def get_fieldsets(self, request: HttpRequest, obj: Card | None = None) -> _FieldsetSpec:
        editable = self._editable(request, obj)
        message_fields: tuple[str, ...] = ("message", "fit") if editable else ("message_text", "fit")
        if obj is not None and obj.status == Card.Status.DRAFT and editable:
            message_fields = (*message_fields, "approve")
        return (
            (None, {"fields": ["touchpoint_link", "status", "design", "sequence_code", "batch_link"]}),
            ("Message", {"fields": message_fields}),
            ("Recipient (as when drafted)", {"fields": tuple(CARD_SNAPSHOT_FIELDS)}),
            ("History", {"fields": ["message_edited", "approved_by", "approved_at", "created_at", "updated_at"]}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Card | None = None) -> list[str]:
        fields = [
            "touchpoint_link",
            "status",
            "design",
            "sequence_code",
            "batch_link",
            "fit",
            "message_text",
            *CARD_SNAPSHOT_FIELDS,
            "message_edited",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
        ]
        if not self._editable(request, obj):
            fields.append("message")
        return fields

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except CardError as exc:
            # Someone else changed the card between the form's check and the UPDATE.
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Card, form: Any, change: bool) -> None:
        # Never a full-row save: the services' conditional UPDATEs, so a batch taken meanwhile wins.
        user = acting_user(request)
        if "message" in form.changed_data:
            card_update_message(card=obj, message=form.cleaned_data["message"], by=user)
            if obj.fits is False:
                self.message_user(request, f"The message does not fit: {obj.fit_problem}", messages.WARNING)
        if form.cleaned_data.get("approve"):
            card_approve(card=obj, by=user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related to save; the form's save_m2m would touch nothing but is skipped

    @admin.display(description="card", ordering="recipient_name")
    def card(self, obj: Card) -> str:
        return f"{obj.recipient_name} ({obj.recipient_company})" if obj.recipient_company else obj.recipient_name

    @admin.display(description="sequence code", ordering="sequence")
    def sequence(self, obj: Card) -> str:
        return obj.sequence_code or "-"

    @admin.display(description="fits", boolean=True, ordering="fits")
    def fits_mark(self, obj: Card) -> bool | None:
        return obj.fits

    @admin.display(description="mail by", ordering="touchpoint__due_on")
    def due_on(self, obj: Card) -> str:
        return obj.touchpoint.due_on.isoformat()

    @admin.display(description="batch")
    def batch_link(self, obj: Card) -> str:
        if obj.batch_id is None:
            return "-"
        return format_html(
            '<a href="{}">B{}</a>', reverse("admin:campaigns_batch_change", args=[obj.batch_id]), obj.batch_id
        )

    @admin.display(description="touchpoint")
    def touchpoint_link(self, obj: Card) -> str:
        touchpoint = obj.touchpoint
        return format_html(
            '<a href="{}">{} for {}, due {}</a>',
            reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]),
            touchpoint.rule.name,
            touchpoint.customer,
            touchpoint.due_on.isoformat(),
        )

    @admin.display(description="sequence code")
    def sequence_code(self, obj: Card) -> str:
        return obj.sequence_code or "- (not in a batch)"

    @admin.display(description="fit")
    def fit(self, obj: Card) -> str:
        if obj.fits is None:
            return "Not checked yet: it is checked when the message is saved or approved."
        if obj.fits:
            return "Fits the inside panel."
        return f"Does not fit: {obj.fit_problem}" if obj.fit_problem else "Does not fit."

    @admin.display(description="message")
    def message_text(self, obj: Card) -> str:
        return format_html('<div style="white-space:pre-wrap">{}</div>', obj.message)

    # --- Actions ----------------------------------------------------------------------------

    @admin.action(description="Approve selected cards", permissions=["change"])
    def approve_cards(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        result = card_bulk_approve(cards=queryset, by=acting_user(request))
        if result.approved:
            message = ngettext("Approved %(count)d card.", "Approved %(count)d cards.", result.approved) % {
                "count": result.approved
            }
            self.message_user(request, message, messages.SUCCESS)
        if result.problems:
            self.message_user(request, f"Not approved: {listing(result.problems)}.", messages.WARNING)

    @admin.action(description="Build a print batch from selected cards…", permissions=["build_batch"])
    def build_batch_from_selection(self, request: HttpRequest, queryset: QuerySet[Card]) -> HttpResponse | None:
        form = BatchOptionsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                batch = batch_create(
                    due_by=None,
                    sheet=form.cleaned_data["sheet"],
                    labels=form.cleaned_data["labels"],
                    by=acting_user(request),
                    card_ids=list(queryset.values_list("pk", flat=True)),
                )
            except BatchError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            return _batch_built(self, request, batch)
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": "Build a print batch",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "count": count,
            "preview": queryset.select_related("touchpoint")[:20],
            "more": max(0, count - 20),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:campaigns_card_changelist"),
            "action": "build_batch_from_selection",
            "submit": "Build the batch",
        }
        return TemplateResponse(request, "admin/campaigns/card/batch_form.html", context)


def _batch_built(model_admin: admin.ModelAdmin[Any], request: HttpRequest, batch: Batch) -> HttpResponseRedirect:
    message = ngettext(
        "Batch %(code)s: %(count)d card, rendering now.",
        "Batch %(code)s: %(count)d cards, rendering now.",
        batch.card_count,
    ) % {"code": batch.code, "count": batch.card_count}
    model_admin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:campaigns_batch_change", args=[batch.pk]))


# --- Batches ----------------------------------------------------------------------------------


class BatchChunkInline(admin.TabularInline[BatchChunk, Batch]):
    model = BatchChunk
    fields = ["index", "kind", "first_sequence", "last_sequence", "rendered_at"]
    readonly_fields = ["index", "kind", "first_sequence", "last_sequence", "rendered_at"]
    extra = 0
    can_delete = False
    classes = ["collapse"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


DOWNLOADS = {
    "cards": ("cards_pdf", "application/pdf", "cards.pdf"),
    "labels": ("labels_pdf", "application/pdf", "labels.pdf"),
    "manifest": ("manifest_csv", "text/csv", "manifest.csv"),
}


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
    list_display = ["code", "status", "due_by", "card_count", "progress", "sheet", "labels", "created_at", "downloads"]
    list_display_links = ["code"]
    list_filter = ["status", "sheet", "labels"]
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
            *super().get_urls(),
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        return False  # history; a batch's cards point at it

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        return self.build_view(request)  # "Add batch" is "Build a batch"

    def _rendering(self, obj: Batch | None) -> bool:
        return obj is not None and obj.status in (Batch.Status.QUEUED, Batch.Status.RENDERING)

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
        return format_html(
            '<progress value="{}" max="{}" title="chunks rendered">{}/{}</progress> {}/{}',
            obj.chunks_done,
            obj.chunk_count,
            obj.chunks_done,
            obj.chunk_count,
            obj.chunks_done,
            obj.chunk_count,
        )

    @admin.display(description="files")
    def downloads(self, obj: Batch) -> str:
        if obj.status not in (Batch.Status.READY, Batch.Status.PRINTED, Batch.Status.MAILED):
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:campaigns_batch_download", args=[obj.pk, kind]), label)
                for kind, label in (("cards", "cards PDF"), ("labels", "labels PDF"), ("manifest", "manifest CSV"))
            ),
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
                        by=acting_user(request),
                    )
                except BatchError as exc:
                    form.add_error(None, str(exc))
                else:
                    return _batch_built(self, request, batch)
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
        batch = self._batch(request, pk)
        return JsonResponse(
            {
                "status": batch.status,
                "chunks_done": batch.chunks_done,
                "chunk_count": batch.chunk_count,
                "card_count": batch.card_count,
                "error": batch.error,
            }
        )

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
