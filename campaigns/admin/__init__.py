"""The campaign side's admin, one module per area; importing the package registers them all."""

from campaigns.admin import cadences, cards, customers, jobs, planner, touchpoints

__all__ = ["cadences", "cards", "customers", "jobs", "planner", "touchpoints"]
