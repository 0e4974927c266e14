from campaigns.models.activities import Activity
from campaigns.models.api import IdempotencyKey
from campaigns.models.cards import Batch, BatchChunk, Card, CardDesign
from campaigns.models.digests import DigestDelivery
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.rules import SCHEDULE_FIELDS, Cadence, Rule
from campaigns.models.touchpoints import Touchpoint

__all__ = [
    "SCHEDULE_FIELDS",
    "Activity",
    "Batch",
    "BatchChunk",
    "Cadence",
    "Card",
    "CardDesign",
    "DigestDelivery",
    "IdempotencyKey",
    "PlanSlot",
    "PlannerChunk",
    "PlannerRun",
    "Rule",
    "Touchpoint",
]
