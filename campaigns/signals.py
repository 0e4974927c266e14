"""What the campaign side's services ask of the background workers, without importing the tasks.

The services sit below the Celery tasks (the tasks call the services); when a service needs work
queued, it sends one of these and campaigns.receivers queues the task.
"""

from django.dispatch import Signal

# card_ids: open cards whose message must be checked against the inside panel.
cards_need_fit_check = Signal()
# batch_id, indexes: chunks of a batch to render.
batch_chunks_to_render = Signal()
# batch_id: every chunk is rendered; join the files.
batch_to_finish = Signal()
# touchpoint_id: a call ended "at risk"; alert the account manager's lead (after the commit).
customer_at_risk = Signal()
# band_change_ids: customers entered the red health band; alert their leads (after the commit).
customer_entered_red = Signal()

# (no arguments): webhook events were recorded or deliveries made due; dispatch them (after the commit).
webhook_events_recorded = Signal()
