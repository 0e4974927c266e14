"""The campaign side's admin, one module per area; importing the package registers them all."""

from campaigns.admin import (
    batches,
    cadences,
    cards,
    customers,
    designs,
    health,
    jobs,
    planner,
    touchpoints,
    webhooks,
)

__all__ = [
    "batches",
    "cadences",
    "cards",
    "customers",
    "designs",
    "health",
    "jobs",
    "planner",
    "touchpoints",
    "webhooks",
]
