"""What the audit log records: who changed what, when, field by field (django-auditlog).

Saves through the admin and the services are logged with the user who made them
(AuditlogMiddleware). Set-based writes of the background jobs (the planner's INSERT ... SELECT,
bulk imports) are not per-row changes by a person and are not logged row by row.
"""

from auditlog.registry import auditlog  # type: ignore[import-untyped,unused-ignore]

from campaigns.models import (
    Batch,
    Cadence,
    Card,
    CardDesign,
    HealthBands,
    HealthMeasure,
    HealthOverride,
    Rule,
    Stage,
)
from nurture.models import Customer, Milestone


def register() -> None:
    auditlog.register(Customer, exclude_fields=["updated_at", "created_at"], m2m_fields={"tags"})
    auditlog.register(Milestone, exclude_fields=["updated_at", "created_at"])
    auditlog.register(Cadence, exclude_fields=["updated_at", "created_at"], m2m_fields={"tags", "excluded_customers"})
    auditlog.register(Rule, exclude_fields=["updated_at", "created_at"])
    auditlog.register(Stage)
    auditlog.register(CardDesign, exclude_fields=["updated_at", "created_at"])
    auditlog.register(Card, include_fields=["message", "status", "design", "approved_by"])
    auditlog.register(Batch, include_fields=["status", "error"])
    # The health score's configuration and every override (who, why, until when, lifted by whom).
    auditlog.register(HealthMeasure, exclude_fields=["updated_at"])
    auditlog.register(HealthBands, exclude_fields=["updated_at"])
    auditlog.register(HealthOverride)
