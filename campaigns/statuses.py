"""The lifecycles of touchpoints, cards and batches: status values and the groups the code asks about.

Here rather than inside the models so that the QuerySets, which the models import, can use them
too (``Touchpoint.Status`` and the others are these classes).
"""

from django.db import models


class TouchpointStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    # Planned but held back: by the frequency cap, or a quiet period after a customer at risk.
    HELD = "held", "Held back"


class CardStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    BATCHED = "batched", "In a batch"
    PRINTED = "printed", "Printed"
    MAILED = "mailed", "Mailed"
    # Came back undeliverable after it was mailed (recorded by the print room).
    RETURNED = "returned", "Returned"
    CANCELLED = "cancelled", "Cancelled"


class BatchOrder(models.TextChoices):
    """The order of a batch's sequence numbers: its cards, their labels and the manifest."""

    MAIL_BY = "mail_by", "By mail-by date"
    POSTAL = "postal", "Presorted: by country and postal code"
    MANAGER = "manager", "By account manager"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    READY = "ready", "Ready to print"
    FAILED = "failed", "Failed"
    PRINTED = "printed", "Printed"
    MAILED = "mailed", "Mailed"


# The hold reason of a card touchpoint waiting for a new address, followed by the date of the flag
# (ISO): "address undeliverable since 2025-03-10" (campaigns.services.holds).
UNDELIVERABLE_HOLD_REASON = "address undeliverable since "

# A card whose message may still change.
CARD_OPEN = (CardStatus.DRAFT, CardStatus.APPROVED)
# A card in a batch that has not been mailed yet: the print room may still take it out.
CARD_IN_UNMAILED_BATCH = (CardStatus.BATCHED, CardStatus.PRINTED)
# A batch with chunks still to render or files still to join.
BATCH_RENDERING = (BatchStatus.QUEUED, BatchStatus.RENDERING)
# A batch whose files can be downloaded.
BATCH_DOWNLOADABLE = (BatchStatus.READY, BatchStatus.PRINTED, BatchStatus.MAILED)
