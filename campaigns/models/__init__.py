from campaigns.models.cards import Batch, BatchChunk, Card, CardDesign
from campaigns.models.digests import DigestDelivery
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.rules import SCHEDULE_FIELDS, Cadence, Rule
from campaigns.models.touchpoints import Touchpoint
from campaigns.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
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
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
