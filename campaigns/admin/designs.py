"""Admin of card designs: the format, artwork, headline, colour and typeface, with a live preview."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from campaigns.models import CardDesign
from campaigns.printing import render_design_preview_pdf, render_design_preview_png
from campaigns.services.cards import (
    cards_design_changed,
)

if TYPE_CHECKING:
    pass

# Fields whose change alters the inside panel, so every open card's fit is checked again.
LAYOUT_FIELDS = {"format", "typeface"}
# The preview PNG's parameters: its pages (1: outside or front, 2: inside or back) and the
# resolutions it is rendered at (the admin asks for 72; more would only cost the server).
PREVIEW_PAGES = (1, 2)
PREVIEW_DPI_MIN, PREVIEW_DPI_MAX = 36, 150
_WHOLE_NUMBER = re.compile(r"[0-9]{1,4}")


class BadPreviewParameter(ValueError):
    """A preview parameter the view does not support; the message says which and what it takes."""


def _whole_number(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadPreviewParameter(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


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
        design = self._design(request, pk)
        response = HttpResponse(render_design_preview_pdf(design.spec()), "application/pdf")
        response["Content-Disposition"] = f'inline; filename="{design.slug}-preview.pdf"'
        return response

    def preview_png_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Page 1 or 2 at 36 to 150 dpi; any other parameter is a 400, an unknown design a 404."""
        design = self._design(request, pk)
        try:
            page = _whole_number(request, "page", 1, PREVIEW_PAGES[0], PREVIEW_PAGES[-1])
            dpi = _whole_number(request, "dpi", 72, PREVIEW_DPI_MIN, PREVIEW_DPI_MAX)
        except BadPreviewParameter as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        return HttpResponse(render_design_preview_png(design.spec(), page=page, dpi=dpi), "image/png")

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
            count = cards_design_changed(design=obj)
            if count:
                message = ngettext(
                    "The fit of %(count)d card's message will be checked again.",
                    "The fit of %(count)d cards' messages will be checked again.",
                    count,
                ) % {"count": count}
                self.message_user(request, message, messages.INFO)
