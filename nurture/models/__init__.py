"""The customer side's models (app label "nurture"), one module per area."""

from nurture.models.api_tokens import TOKEN_PREFIX, ApiToken, Scope, hash_token
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
from nurture.models.referrals import Referral
from nurture.models.staff import CalendarFeed, StaffProfile, new_feed_token

__all__ = [
    "TOKEN_PREFIX",
    "ApiToken",
    "CalendarFeed",
    "Customer",
    "ImportJob",
    "JobRun",
    "Milestone",
    "MilestoneKind",
    "Referral",
    "Scope",
    "StaffProfile",
    "Tag",
    "hash_token",
    "new_external_id",
    "new_feed_token",
    "validate_time_zone_field",
]
