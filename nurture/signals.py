"""What the customer side tells the layers above it, without importing them.

``customers_changed`` (``customer_ids``: a list of customer ids) is sent when customers or their
milestones changed in a way that may move what is planned for them. A model save or delete sends
it for its customer (nurture.receivers); a bulk writer (the import, demo data) mutes those
inside ``bulk_changes()`` and announces everything it changed once, at the end. The campaign side
re-plans the customers (campaigns.receivers).
"""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.dispatch import Signal

customers_changed = Signal()

_state = threading.local()


@contextmanager
def bulk_changes() -> Iterator[None]:
    """For bulk writers that announce their changes once at the end instead of per save."""
    previous = getattr(_state, "muted", False)
    _state.muted = True
    try:
        yield
    finally:
        _state.muted = previous


def customer_changed(customer_id: int) -> None:
    """One customer changed (a model save or delete): announced unless a bulk writer is at work."""
    if not getattr(_state, "muted", False):
        announce_customers_changed([customer_id])


def announce_customers_changed(customer_ids: Sequence[int]) -> None:
    customers_changed.send(sender=None, customer_ids=list(customer_ids))
