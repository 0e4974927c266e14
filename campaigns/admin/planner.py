"""The planner's and the digest's bookkeeping, read-only."""

from __future__ import annotations

from django.contrib import admin

from campaigns.models import DigestDelivery, PlannerChunk, PlannerRun
from nurture.admin.base import ReadOnlyAdminMixin


class PlannerChunkInline(ReadOnlyAdminMixin, admin.TabularInline[PlannerChunk, PlannerRun]):
    model = PlannerChunk
    fields = ["index", "first_customer_id", "last_customer_id", "created_count", "cancelled_count", "finished_at"]
    readonly_fields = [
        "index",
        "first_customer_id",
        "last_customer_id",
        "created_count",
        "cancelled_count",
        "finished_at",
    ]
    extra = 0


@admin.register(PlannerRun)
class PlannerRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[PlannerRun]):
    list_display = [
        "started_at",
        "scope",
        "as_of",
        "window",
        "chunk_count",
        "created_count",
        "cancelled_count",
        "finished_at",
        "duration",
    ]
    list_filter = ["scope"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    inlines = [PlannerChunkInline]

    @admin.display(description="window")
    def window(self, obj: PlannerRun) -> str:
        return f"{obj.window_start.isoformat()} to {obj.window_end.isoformat()}"

    @admin.display(description="duration")
    def duration(self, obj: PlannerRun) -> str:
        if obj.finished_at is None:
            return "running (or died)"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f} s"


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[DigestDelivery]):
    list_display = ["date", "user", "calls_due", "calls_overdue", "sent_at"]
    list_filter = ["date"]
    list_select_related = ["user"]
    show_full_result_count = False
