"""Re-plan a customer as soon as the basis of their touchpoints changes (PRODUCT.md rule 6).

Admin edits go through model saves, so signals catch them. Bulk writes (QuerySet.update,
bulk_create) send no signals: those paths call planning themselves, and the hourly sweep
re-plans every customer and milestone whose updated_at moved anyway.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from nurture.models import Customer, Milestone

_state = threading.local()


@contextmanager
def replans_paused() -> Iterator[None]:
    """For bulk writers (imports, demo data) that plan once at the end instead."""
    previous = getattr(_state, "paused", False)
    _state.paused = True
    try:
        yield
    finally:
        _state.paused = previous


def request_replan(customer_id: int) -> None:
    if getattr(_state, "paused", False):
        return
    from campaigns.tasks import replan_customers

    transaction.on_commit(lambda: replan_customers.delay([customer_id]))


@receiver(post_save, sender=Customer)
def customer_saved(sender: type[Customer], instance: Customer, created: bool, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        request_replan(instance.pk)


@receiver(post_save, sender=Milestone)
@receiver(post_delete, sender=Milestone)
def milestone_changed(sender: type[Milestone], instance: Milestone, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        request_replan(instance.customer_id)
