from campaigns.models.cards import Batch, BatchChunk, BatchFile, Card, CardDesign
from campaigns.models.digests import DigestDelivery
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.rules import SCHEDULE_FIELDS, Cadence, Rule
from campaigns.models.touchpoints import Touchpoint

__all__ = [
    "SCHEDULE_FIELDS",
    "Batch",
    "BatchChunk",
    "BatchFile",
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
