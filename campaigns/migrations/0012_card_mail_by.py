"""Today's cards to approve at a million customers: the mail-by date kept on the card.

"Drafts, soonest mail-by first" then walks one small index (card_draft_mail_by) instead of every
touchpoint by due date (docs/benchmarks-admin.md). The new column is filled for the cards whose
date still matters (draft, approved, in a batch not yet mailed), a few thousand rows a statement;
mailed and cancelled cards keep it empty.

Non-atomic: each batch of the fill commits on its own, and the index is built with CREATE INDEX
CONCURRENTLY on PostgreSQL, so cards stay writable throughout (nurture/lib/migrations.py;
docs/operations.md, "Upgrading"). Adding the empty column itself is instant.
"""

from typing import Any

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

from nurture.lib.migrations import AddIndexConcurrently

# The cards whose mail-by date still matters.
OPEN_STATUSES = ["draft", "approved", "batched", "printed"]
BATCH = 5_000


def fill_mail_by(apps: Any, schema_editor: Any) -> None:
    Card = apps.get_model("campaigns", "Card")
    Touchpoint = apps.get_model("campaigns", "Touchpoint")
    due_on = Subquery(Touchpoint.objects.filter(pk=OuterRef("touchpoint_id")).values("due_on")[:1])
    ids = list(
        Card.objects.filter(status__in=OPEN_STATUSES, mail_by__isnull=True).order_by("pk").values_list("pk", flat=True)
    )
    for start in range(0, len(ids), BATCH):
        Card.objects.filter(pk__in=ids[start : start + BATCH]).update(mail_by=due_on)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0011_readable_merge_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="card",
            name="mail_by",
            field=models.DateField(
                blank=True,
                editable=False,
                help_text="The touchpoint's due date (the mail-by date).",
                null=True,
                verbose_name="mail by",
            ),
        ),
        migrations.RunPython(fill_mail_by, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("status", "draft")), fields=["mail_by", "id"], name="card_draft_mail_by"
            ),
        ),
    ]
