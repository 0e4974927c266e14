from campaigns.models.activities import Activity
from campaigns.models.api import IdempotencyKey
from campaigns.models.cards import Batch, BatchChunk, BatchFile, Card, CardDesign
from campaigns.models.crm import CrmEventReceived
from campaigns.models.digests import DigestDelivery
from campaigns.models.health import (
    HealthBandChange,
    HealthBands,
    HealthChunk,
    HealthMeasure,
    HealthOverride,
    HealthRun,
    HealthSnapshot,
)
from campaigns.models.planner import PlannerChunk, PlannerRun, PlanSlot
from campaigns.models.reports import DailyFigure, ReportDay, ReportPackDelivery
from campaigns.models.rules import ANCHOR_FIELDS, SCHEDULE_FIELDS, Cadence, Rule, Stage
from campaigns.models.touchpoints import Touchpoint
from campaigns.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "ANCHOR_FIELDS",
    "SCHEDULE_FIELDS",
    "Activity",
    "Batch",
    "BatchChunk",
    "BatchFile",
    "Cadence",
    "Card",
    "CardDesign",
    "CrmEventReceived",
    "DailyFigure",
    "DigestDelivery",
    "HealthBandChange",
    "HealthBands",
    "HealthChunk",
    "HealthMeasure",
    "HealthOverride",
    "HealthRun",
    "HealthSnapshot",
    "IdempotencyKey",
    "PlanSlot",
    "PlannerChunk",
    "PlannerRun",
    "ReportDay",
    "ReportPackDelivery",
    "Rule",
    "Stage",
    "Touchpoint",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
