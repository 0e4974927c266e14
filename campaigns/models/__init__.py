from campaigns.models.cards import Batch, BatchChunk, Card, CardDesign
from campaigns.models.digests import DigestDelivery
from campaigns.models.health import (
    HealthBandChange,
    HealthBands,
    HealthChunk,
    HealthMeasure,
    HealthOverride,
    HealthRun,
    HealthScore,
    HealthSnapshot,
)
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.rules import SCHEDULE_FIELDS, Cadence, Rule
from campaigns.models.touchpoints import Touchpoint

__all__ = [
    "SCHEDULE_FIELDS",
    "Batch",
    "BatchChunk",
    "Cadence",
    "Card",
    "CardDesign",
    "DigestDelivery",
    "HealthBandChange",
    "HealthBands",
    "HealthChunk",
    "HealthMeasure",
    "HealthOverride",
    "HealthRun",
    "HealthScore",
    "HealthSnapshot",
    "PlanSlot",
    "PlannerChunk",
    "PlannerRun",
    "Rule",
    "Touchpoint",
]
