"""Where events of the domain become Celery tasks (docs/calendar-rules.md, rule 6, for the re-plans).

A customer or milestone that changed is re-planned once the change commits (a rolled-back
change queues nothing). The services' requests (campaigns.signals) are queued as they were sent.
"""

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from kombu.exceptions import OperationalError

from campaigns import signals, tasks
from nurture.signals import customers_changed

log = logging.getLogger(__name__)

# Customers per re-plan task.
REPLAN_CHUNK = 1000
# Cards per fit-check task.
FIT_CHUNK = 100


@receiver(customers_changed)
def replan_changed_customers(sender: Any, customer_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(customer_ids), REPLAN_CHUNK):
        chunk = customer_ids[start : start + REPLAN_CHUNK]
        transaction.on_commit(partial(tasks.replan_customers.delay, chunk))


@receiver(signals.cards_need_fit_check)
def check_card_fits(sender: Any, card_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(card_ids), FIT_CHUNK):
        tasks.check_card_fits.delay(list(card_ids[start : start + FIT_CHUNK]))


@receiver(signals.batch_chunks_to_render)
def render_batch_chunks(sender: Any, batch_id: int, indexes: list[int], **kwargs: Any) -> None:
    for index in indexes:
        tasks.render_batch_chunk.delay(batch_id, index)


@receiver(signals.batch_to_finish)
def finish_batch(sender: Any, batch_id: int, **kwargs: Any) -> None:
    tasks.finish_batch.delay(batch_id)


@receiver(signals.customer_at_risk)
def alert_lead(sender: Any, touchpoint_id: int, **kwargs: Any) -> None:
    transaction.on_commit(partial(tasks.send_at_risk_alert.delay, touchpoint_id))


@receiver(signals.customer_entered_red)
def alert_leads_of_red(sender: Any, band_change_ids: list[int], **kwargs: Any) -> None:
    for band_change_id in band_change_ids:
        transaction.on_commit(partial(tasks.send_health_alert.delay, band_change_id))


@receiver(signals.webhook_events_recorded)
def dispatch_webhooks(sender: Any, **kwargs: Any) -> None:
    """Sent after the commit. A broker that is down loses nothing: Beat's periodic dispatch finds the rows."""
    try:
        tasks.dispatch_webhooks.apply_async(retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("webhook dispatch not queued (the periodic dispatch will send them): %s", exc)
