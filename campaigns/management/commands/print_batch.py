"""Build a print batch and write its files, in this process (no worker needed).

    python manage.py print_batch --due-by 2025-03-14 --output cards.pdf --labels labels.pdf \\
        --manifest manifest.csv --sheet a4
    python manage.py print_batch --batch 12 --output cards.pdf    # a rendered batch's files again

The batch is built exactly as the admin builds it (campaigns.services.batches.batch_create) and
rendered chunk by chunk with the same services the workers run; it shows up in the admin too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.models import Batch
from campaigns.printing import join_pdfs
from campaigns.services.batches import (
    BatchError,
    batch_create,
    batch_fail,
    batch_finish,
    batch_join_files,
    batch_render_chunk,
    batch_reprint,
    default_label_format,
)


def read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as source:
        data: bytes = source.read()
    return data


def parse_due_by(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--due-by {value!r} is not a date (YYYY-MM-DD)") from None


def check_outputs(paths: list[Path]) -> None:
    """Fail before building anything if a file could not be written."""
    for path in paths:
        if not path.parent.is_dir():
            raise CommandError(f"{path}: the directory {path.parent} does not exist")
        if path.is_dir():
            raise CommandError(f"{path} is a directory")


class Command(BaseCommand):
    help = "Build a print batch of the approved cards due by a date, render it and write its files."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--due-by", help="Approved cards to be mailed by this date (YYYY-MM-DD).")
        which.add_argument("--batch", type=int, help="Write the files of this rendered batch (its number) again.")
        parser.add_argument("--output", required=True, type=Path, help="Where to write the cards PDF.")
        parser.add_argument("--labels", type=Path, help="Where to write the labels (or envelopes) PDF.")
        parser.add_argument("--manifest", type=Path, help="Where to write the manifest CSV.")
        parser.add_argument("--sheet", choices=Batch.Sheet.values, default=Batch.Sheet.CARD, help="Default: card.")
        parser.add_argument(
            "--order",
            choices=Batch.Order.values,
            default=Batch.Order.MAIL_BY,
            help="Order of the cards, labels and manifest: mail_by (default), postal (presorted), manager.",
        )
        parser.add_argument(
            "--label-format",
            choices=Batch.Labels.values,
            help="Default: 5160 with --sheet letter, l7160 otherwise.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        outputs = {"cards_pdf": options["output"], "labels_pdf": options["labels"], "manifest_csv": options["manifest"]}
        check_outputs([path for path in outputs.values() if path is not None])
        if options["batch"] is not None:
            batch = self.existing(options["batch"])
        else:
            due_by = parse_due_by(options["due_by"])
            sheet = options["sheet"]
            batch = self.build(due_by, sheet, options["label_format"] or default_label_format(sheet), options["order"])
            self.render(batch, verbosity=options["verbosity"])
        self.write(batch, outputs)

    def existing(self, pk: int) -> Batch:
        batch = Batch.objects.filter(pk=pk).first()
        if batch is None:
            raise CommandError(f"There is no batch B{pk}.")
        try:
            return batch_reprint(batch=batch)
        except BatchError as exc:
            raise CommandError(str(exc)) from None

    def build(self, due_by: dt.date, sheet: str, labels: str, order: str) -> Batch:
        try:
            batch = batch_create(due_by=due_by, sheet=sheet, labels=labels, order=order, by=None, enqueue=False)
        except BatchError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Batch {batch.code}: {batch.card_count} cards in {batch.chunk_count} chunks.")
        return batch

    def render(self, batch: Batch, *, verbosity: int) -> None:
        try:
            for index in range(batch.chunk_count):
                batch_render_chunk(batch_id=batch.pk, index=index)
                batch_join_files(batch_id=batch.pk, chunk_index=index)
                if verbosity >= 1:
                    self.stderr.write(f"  rendered chunk {index + 1}/{batch.chunk_count}")
            batch_finish(batch_id=batch.pk)
        except Exception as exc:
            batch_fail(batch_id=batch.pk, error=f"{type(exc).__name__}: {exc}")
            raise CommandError(
                f"Rendering batch {batch.code} failed ({exc}); its cards are back in the queue."
            ) from exc
        batch.refresh_from_db()
        if batch.status != Batch.Status.READY:
            raise CommandError(f"Batch {batch.code} is {batch.get_status_display().lower()}, not ready.")

    def write(self, batch: Batch, outputs: dict[str, Path | None]) -> None:
        for field, path in outputs.items():
            if path is None:
                continue
            if field == "cards_pdf" and not batch.cards_pdf:
                # Several print files: written as one PDF of all their pages.
                files = batch.files.order_by("index")
                with path.open("wb") as out:
                    join_pdfs((read_stored(print_file.pdf.name) for print_file in files), out)
            else:
                path.write_bytes(read_stored(getattr(batch, field).name))
            self.stdout.write(f"Wrote {path}")
        self.stdout.write(f"Batch {batch.code}: {batch.card_count} cards, ready to print.")
