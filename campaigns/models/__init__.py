from campaigns.models.cards import Batch, BatchChunk, Card, CardDesign
from campaigns.models.digests import DigestDelivery
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.rules import ANCHOR_FIELDS, SCHEDULE_FIELDS, Cadence, Rule
from campaigns.models.touchpoints import Touchpoint

__all__ = [
    "ANCHOR_FIELDS",
    "SCHEDULE_FIELDS",
    "Batch",
    "BatchChunk",
    "Cadence",
    "Card",
    "CardDesign",
    "DigestDelivery",
    "PlanSlot",
    "PlannerChunk",
    "PlannerRun",
    "Rule",
    "Touchpoint",
]
