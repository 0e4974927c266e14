"""The customer side's models (app label "nurture"), one module per area."""

from nurture.models.customers import (
    Customer,
    Milestone,
    MilestoneKind,
    Tag,
    new_external_id,
    validate_time_zone_field,
)
from nurture.models.imports import ImportJob
from nurture.models.jobs import JobRun
from nurture.models.staff import CalendarFeed, StaffProfile, new_feed_token

__all__ = [
    "CalendarFeed",
    "Customer",
    "ImportJob",
    "JobRun",
    "Milestone",
    "MilestoneKind",
    "StaffProfile",
    "Tag",
    "new_external_id",
    "new_feed_token",
    "validate_time_zone_field",
]
