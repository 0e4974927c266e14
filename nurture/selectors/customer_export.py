"""The customers as CSV rows with the import's columns: an export imports back unchanged."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db.models import Prefetch, QuerySet

from nurture.lib.address import ADDRESS_FIELDS
from nurture.models import Customer, Milestone, MilestoneKind

# The columns of a customer file, which the import reads (nurture.services.importing); then one
# column per milestone kind, named by its slug.
REQUIRED_COLUMNS = ("external_id", "first_name", "last_name")
OPTIONAL_COLUMNS = (
    "company",
    "email",
    "phone",
    *ADDRESS_FIELDS,
    "time_zone",
    "account_manager",
    "tags",
    "status",
    "tier",
    # The referrer's external_id: the import creates the referral (nurture.services.referrals).
    "referred_by",
)
# Customers per query with their prefetches.
CHUNK = 500


def fields() -> list[str]:
    """The import's columns, milestone kinds last."""
    kinds = list(MilestoneKind.objects.order_by("slug").values_list("slug", flat=True))
    return [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *kinds]


def rows(queryset: QuerySet[Customer], columns: Sequence[str]) -> Iterator[dict[str, object]]:
    """One row per customer; a milestone kind's column holds its latest date (the one imports move)."""
    kinds = [column for column in columns if column not in REQUIRED_COLUMNS and column not in OPTIONAL_COLUMNS]
    customers = queryset.select_related("account_manager", "referral__referrer").prefetch_related(
        "tags", Prefetch("milestones", queryset=Milestone.objects.select_related("kind").order_by("date", "id"))
    )
    for customer in customers.iterator(chunk_size=CHUNK):
        dates = {milestone.kind.slug: milestone.date.isoformat() for milestone in customer.milestones.all()}
        manager = customer.account_manager
        yield {
            "external_id": customer.external_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "company": customer.company,
            "email": customer.email,
            "phone": customer.phone,
            **customer.address.as_dict(),
            "time_zone": customer.time_zone,
            "account_manager": manager.get_username() if manager is not None else "",
            "tags": ";".join(sorted(tag.slug for tag in customer.tags.all())),
            "status": customer.status,
            "tier": customer.tier,
            "referred_by": _referrer(customer),
            **{slug: dates.get(slug, "") for slug in kinds},
        }


def _referrer(customer: Customer) -> str:
    referral = getattr(customer, "referral", None)  # the reverse one-to-one: absent when never referred
    return referral.referrer.external_id if referral is not None else ""
