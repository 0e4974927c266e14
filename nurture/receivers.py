"""Model saves and deletes that may move a customer's plan, announced as ``customers_changed``.

Admin edits go through model saves, so these catch them (docs/calendar-rules.md, rule 6). Bulk writes
(QuerySet.update, bulk_create) send no model signals: those writers announce what they changed
themselves, and the hourly sweep re-plans every customer and milestone whose updated_at moved anyway.
"""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from nurture.models import Customer, Milestone
from nurture.signals import customer_changed


@receiver(post_save, sender=Customer)
def customer_saved(sender: type[Customer], instance: Customer, created: bool, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        customer_changed(instance.pk)


@receiver(post_save, sender=Milestone)
@receiver(post_delete, sender=Milestone)
def milestone_changed(sender: type[Milestone], instance: Milestone, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        customer_changed(instance.customer_id)
