"""Where events of the domain become Celery tasks (docs/calendar-rules.md, rule 6, for the re-plans).

A customer or milestone that changed is re-planned once the change commits (a rolled-back
change queues nothing). The services' requests (campaigns.signals) are queued as they were sent.
Every task goes through nurture.publishing: one quick attempt, a broker that is down is logged and
never fails the request that committed the change (the periodic jobs pick the work up).
"""

from typing import Any

from django.dispatch import receiver

from campaigns import signals, tasks
from nurture.publishing import publish, publish_on_commit
from nurture.signals import customers_changed

# Customers per re-plan task.
REPLAN_CHUNK = 1000
# Cards per fit-check task.
FIT_CHUNK = 100


@receiver(customers_changed)
def replan_changed_customers(sender: Any, customer_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(customer_ids), REPLAN_CHUNK):
        chunk = customer_ids[start : start + REPLAN_CHUNK]
        publish_on_commit(tasks.replan_customers, chunk)


@receiver(signals.cards_need_fit_check)
def check_card_fits(sender: Any, card_ids: list[int], **kwargs: Any) -> None:
    for start in range(0, len(card_ids), FIT_CHUNK):
        publish(tasks.check_card_fits, list(card_ids[start : start + FIT_CHUNK]))


@receiver(signals.batch_chunks_to_render)
def render_batch_chunks(sender: Any, batch_id: int, indexes: list[int], **kwargs: Any) -> None:
    for index in indexes:
        publish(tasks.render_batch_chunk, batch_id, index)


@receiver(signals.batch_to_finish)
def finish_batch(sender: Any, batch_id: int, **kwargs: Any) -> None:
    publish(tasks.finish_batch, batch_id)


@receiver(signals.customer_at_risk)
def alert_lead(sender: Any, touchpoint_id: int, **kwargs: Any) -> None:
    publish_on_commit(tasks.send_at_risk_alert, touchpoint_id)


@receiver(signals.customer_entered_red)
def alert_leads_of_red(sender: Any, band_change_ids: list[int], **kwargs: Any) -> None:
    for band_change_id in band_change_ids:
        publish_on_commit(tasks.send_health_alert, band_change_id)


@receiver(signals.webhook_events_recorded)
def dispatch_webhooks(sender: Any, **kwargs: Any) -> None:
    """Sent after the commit. A broker that is down loses nothing: Beat's periodic dispatch finds the rows."""
    publish(tasks.dispatch_webhooks)
