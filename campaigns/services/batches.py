"""Print batches: build one from the approved cards, render it in chunks, print and mail it.

Lifecycle: queued -> rendering -> ready -> printed -> mailed, or failed from queued or rendering.

A batch of any size renders without special steps: its cards are numbered in the batch's order
(mail-by date, presorted by country and postal code, or by account manager: the cards, their labels
and the manifest all follow the sequence numbers), cut into chunks of about 50 cards, and the chunks
into *print files* of at most NURTURE_BATCH_FILE_SIZE cards (a whole number of chunks). When the
last chunk of a print file is rendered, the file is joined (``batch_join_files``) and can be
downloaded while the rest of the batch still renders; ``batch_finish`` joins the labels and writes
the manifest and the count per country and postal zone once every file is there.

``batch_create`` takes the cards in one transaction, all or nothing: it locks them (``SELECT ...
FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two people building batches at once never share a
card; SQLite's IMMEDIATE transactions serialise them), numbers them 1..n in a fixed order and
cuts them into chunks. Once it commits, one ``render_batch_chunk`` task per chunk is queued.

``batch_render_chunk`` renders one chunk, a run of the cards' pages or of their address labels,
and stores it as a fragment ready to be joined (see printing/pdfjoin.py). Any worker may take
any chunk, and a chunk may be rendered twice (a message delivered again after a worker died, or
queued again by ``batches_resume_stalled``): the chunk is claimed with a conditional UPDATE when
its file is written, so only the first completion counts towards ``Batch.chunks_done``, and a
duplicate deletes its own file. Files are saved under a fresh name, never over another
attempt's. After its commit, the task that sees every chunk rendered queues ``finish_batch``,
which joins the fragments in order into the cards PDF and the labels PDF, writes the manifest and
marks the batch ready. The same cards always render to the same bytes (WeasyPrint's output is
deterministic and the join adds no date or random ID), so a lost file renders again as it was.

When rendering fails for good (the tasks retry first), ``batch_fail`` keeps the error, puts the
cards back in the print room's queue and deletes the partial files; ``batch_rerender`` builds a
new batch from the same parameters. Cards of customers who cannot be contacted any more never
enter a batch; if that happens after a card was batched, the card is *withdrawn*: the batch page
lists it, and marking the batch mailed leaves it (and its touchpoint) alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns import signals
from campaigns.models import Batch, BatchChunk, BatchFile, Card, Touchpoint
from campaigns.models.webhooks import WebhookEventType
from campaigns.printing import (
    CardDoesNotFit,
    DesignSpec,
    FitResult,
    PrintCard,
    Recipient,
    imposition,
    join_fragments,
    label_stock,
    pdf_fragment,
    render_cards_fragment,
    render_labels_pdf,
    render_manifest_csv,
    render_zones_csv,
    zone_counts,
)
from campaigns.services.cards import cards_check_fit, listing, pk_pages, spec_for
from campaigns.services.referral_thanks import referrals_thank
from campaigns.services.webhooks import card_events, touchpoint_events
from campaigns.statuses import BATCH_DOWNLOADABLE, BATCH_RENDERING

log = logging.getLogger(__name__)

QUEUED = Batch.Status.QUEUED
RENDERING = Batch.Status.RENDERING
READY = Batch.Status.READY

# Cards per cards chunk (NURTURE_BATCH_CHUNK_SIZE): see chunk_size().
DEFAULT_CHUNK_SIZE = 50
# Cards per print file at most (NURTURE_BATCH_FILE_SIZE): see file_size().
DEFAULT_FILE_SIZE = 500
# Cards read from the database at a time while the manifest is written.
_MANIFEST_PAGE = 2000
# Labels per labels chunk, rounded to whole sheets: a run that takes about as long to render as
# a cards chunk, so that the last tasks of a batch end together.
LABELS_PER_CHUNK = 100
_ASSIGN_PAGE = 500
# Chunk rows written per INSERT when a batch is built.
_CHUNK_PAGE = 500
_ERROR_MAX = 4000


class BatchError(ValueError):
    """The batch cannot be built or cannot make this transition; the message says why."""


@dataclass
class MailResult:
    mailed: int = 0
    withdrawn: list[str] = field(default_factory=list)


def chunk_size(*, sheet: str = Batch.Sheet.CARD, formats: Iterable[str] = ()) -> int:
    """Cards per cards chunk: about NURTURE_BATCH_CHUNK_SIZE, and a whole number of sheets.

    Chunks are joined in order: one that ended mid-sheet would leave a half-empty A4 or Letter
    sheet in the middle of the batch. WeasyPrint's time per card is about flat from 25 cards per
    document upwards, and each document costs about a quarter of a second more: about 50 cards
    keeps that small, keeps each process's memory that of a 50-card document, and gives the
    workers enough chunks to share (docs/benchmarks-batches.md).
    """
    wanted = max(1, int(getattr(settings, "NURTURE_BATCH_CHUNK_SIZE", DEFAULT_CHUNK_SIZE)))
    unit = 1
    for card_format in formats:
        unit = math.lcm(unit, imposition(card_format, sheet).per_sheet)
    return max(unit, round(wanted / unit) * unit)


def file_size(*, sheet: str = Batch.Sheet.CARD, formats: Iterable[str] = ()) -> tuple[int, int]:
    """(cards per chunk, cards per print file): a file is at most NURTURE_BATCH_FILE_SIZE cards and
    a whole number of chunks, so that it is joined as soon as its last chunk is rendered; a chunk
    is made smaller when a file must be (never below one sheet)."""
    formats = list(formats)
    unit = 1
    for card_format in formats:
        unit = math.lcm(unit, imposition(card_format, sheet).per_sheet)
    wanted = max(1, int(getattr(settings, "NURTURE_BATCH_FILE_SIZE", DEFAULT_FILE_SIZE)))
    most = max(unit, wanted // unit * unit)
    chunk = min(chunk_size(sheet=sheet, formats=formats), most)
    return chunk, max(chunk, most // chunk * chunk)


def labels_chunk_size(labels: str) -> int:
    """Labels per labels chunk: about LABELS_PER_CHUNK, in whole sheets (or envelopes)."""
    per_page = label_stock(labels).per_page
    return per_page * max(1, round(LABELS_PER_CHUNK / per_page))


def default_label_format(sheet: str) -> str:
    """Labels that go with a sheet size: Avery 5160 with US Letter, L7160 otherwise."""
    return Batch.Labels.AVERY_5160 if sheet == Batch.Sheet.LETTER else Batch.Labels.L7160


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# --- Files ------------------------------------------------------------------------------------


def _store(name: str, content: bytes) -> str:
    """Save under `name`, or a fresh variant of it if that exists: never over another attempt's file."""
    return str(default_storage.save(name, ContentFile(content)))


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except OSError:
                log.warning("could not delete %s", name, exc_info=True)


def chunk_file_name(chunk: BatchChunk) -> str:
    return f"batches/chunks/B{chunk.batch_id}-{chunk.index:04d}-{chunk.kind}.fragment"


def batch_file_names(batch: Batch) -> dict[str, str]:
    """The stored files' names (first choice: a name taken already gets a suffix)."""
    return {
        "cards_pdf": f"batches/B{batch.pk}-cards-{batch.sheet}.pdf",
        "labels_pdf": f"batches/B{batch.pk}-labels-{batch.labels}.pdf",
        "manifest_csv": f"batches/B{batch.pk}-manifest.csv",
        "zones_csv": f"batches/B{batch.pk}-zones.csv",
    }


# --- What a batch prints ----------------------------------------------------------------------


def print_card(card: Card, specs: dict[int, DesignSpec]) -> PrintCard:
    return PrintCard(
        sequence_code=card.sequence_code,
        design=spec_for(card.design, specs),
        message=card.message,
        recipient=Recipient(
            name=card.recipient_name,
            company=card.recipient_company,
            line1=card.address_line1,
            line2=card.address_line2,
            city=card.city,
            region=card.region,
            postal_code=card.postal_code,
            country=card.country,
        ),
    )


def print_cards(batch: Batch, first: int | None = None, last: int | None = None) -> list[PrintCard]:
    """The batch's cards in sequence order (or those numbered first..last) as the renderer takes them."""
    qs = Card.objects.filter(batch=batch).for_print()
    if first is not None and last is not None:
        qs = qs.filter(sequence__range=(first, last))
    specs: dict[int, DesignSpec] = {}
    return [print_card(card, specs) for card in qs]


def each_print_card(batch: Batch) -> Iterator[PrintCard]:
    """Every card of the batch in sequence order, read a page at a time: memory stays flat in the
    batch's size (a manifest of 100,000 rows never holds 100,000 rows)."""
    specs: dict[int, DesignSpec] = {}
    last = 0
    while True:
        page = list(Card.objects.filter(batch=batch, sequence__gt=last).for_print()[:_MANIFEST_PAGE])
        for card in page:
            yield print_card(card, specs)
        if len(page) < _MANIFEST_PAGE:
            return
        last = page[-1].sequence or last


# --- Building a batch -------------------------------------------------------------------------


def _clean_choices(sheet: str, labels: str, order: str = Batch.Order.MAIL_BY) -> None:
    if order not in Batch.Order.values:
        raise BatchError(f"Unknown order {order!r}; expected one of {', '.join(Batch.Order.values)}.")
    if sheet not in Batch.Sheet.values:
        raise BatchError(f"Unknown sheet {sheet!r}; expected one of {', '.join(Batch.Sheet.values)}.")
    if labels not in Batch.Labels.values:
        raise BatchError(f"Unknown label format {labels!r}; expected one of {', '.join(Batch.Labels.values)}.")


def _selection_problems(card_ids: Sequence[int], due_by: dt.date | None) -> list[str]:
    """Why some of the selected cards cannot go into a batch (empty when all can)."""
    qualifying = set(Card.objects.batchable(due_by).filter(pk__in=card_ids).values_list("pk", flat=True))
    problems = []
    rows = (
        Card.objects.filter(pk__in=card_ids)
        .exclude(pk__in=qualifying)
        .select_related("touchpoint", "touchpoint__customer", "batch")
        .order_by("touchpoint__due_on", "pk")
    )
    for card in rows:
        who = f"the card for {card.recipient_name}"
        customer = card.touchpoint.customer
        if card.batch is not None:
            problems.append(f"{who} is already in batch {card.batch.code} ({card.sequence_code})")
        elif card.status != Card.Status.APPROVED:
            problems.append(f"{who} is {card.get_status_display().lower()}, not approved")
        elif customer.status != customer.Status.ACTIVE:
            problems.append(f"{who}: the customer is {customer.get_status_display().lower()}")
        elif card.touchpoint.status != Touchpoint.Status.PENDING:
            problems.append(f"{who}: its touchpoint is {card.touchpoint.get_status_display().lower()}")
        elif card.fits is False:
            problems.append(f"{who} does not fit: {card.fit_problem or 'shorten the message'}")
        elif due_by is not None and card.touchpoint.due_on > due_by:
            problems.append(f"{who} is due {card.touchpoint.due_on.isoformat()}, after {due_by.isoformat()}")
        else:
            problems.append(f"{who} was changed meanwhile")
    missing = len(set(card_ids)) - len(qualifying) - len(problems)
    if missing > 0:
        problems.append(f"{missing} selected card(s) no longer exist")
    return problems


def _nothing_to_print(due_by: dt.date | None) -> str:
    unfit = Card.objects.printable(due_by).unfit().count()
    when = f" due by {due_by.isoformat()}" if due_by else ""
    message = f"No approved cards{when} are waiting to be printed"
    if unfit:
        message += f" ({unfit} approved card(s) do not fit their design and were left out: shorten their message)"
    return message + "."


def _assign(batch: Batch, ids: Sequence[int], now: dt.datetime) -> None:
    """Number the cards 1..n in the order given; all of them or an error."""
    for start in range(0, len(ids), _ASSIGN_PAGE):
        page = ids[start : start + _ASSIGN_PAGE]
        numbers = Case(*[When(pk=pk, then=Value(start + i + 1)) for i, pk in enumerate(page)])
        updated = Card.objects.filter(pk__in=page, status=Card.Status.APPROVED, batch__isnull=True).update(
            status=Card.Status.BATCHED, batch=batch, sequence=numbers, updated_at=now
        )
        if updated != len(page):
            raise BatchError("Some cards were changed by someone else meanwhile; no batch was built. Try again.")


def batch_create(
    *,
    due_by: dt.date | None,
    sheet: str,
    labels: str,
    by: AbstractBaseUser | None,
    card_ids: Sequence[int] | None = None,
    order: str = Batch.Order.MAIL_BY,
    enqueue: bool = True,
    retry_of: Batch | None = None,
) -> Batch:
    """Build a batch of the approved cards due by `due_by` (or of the cards selected), or raise BatchError.

    With card_ids, every selected card must qualify or nothing happens. Without, the cards whose
    message does not fit are left out (and named by the admin's page). With enqueue, the chunks'
    render tasks are queued when the transaction commits; the command renders in-process instead.
    """
    _clean_choices(sheet, labels, order)
    if card_ids is None and due_by is None:
        raise BatchError("Give a date (due by) or select the cards.")
    selection = sorted({int(pk) for pk in card_ids}) if card_ids is not None else None
    if selection is not None and not selection:
        raise BatchError("No cards were selected.")
    candidates = Card.objects.printable(due_by)
    if selection is not None:
        candidates = candidates.filter(pk__in=selection)
    # The fit check is a layout per card: done before the transaction, so no lock waits on it.
    # A page at a time, each distinct message laid out once: no list of every unchecked id.
    layouts: dict[tuple[str, int], FitResult] = {}
    for page in pk_pages(candidates.filter(fits__isnull=True)):
        cards_check_fit(card_ids=page, layouts=layouts)
    if selection is not None:
        problems = _selection_problems(selection, due_by)
        if problems:
            raise BatchError(f"No batch was built: {listing(problems)}.")
    now = timezone.now()
    with transaction.atomic():
        qs = Card.objects.batchable(due_by)
        if selection is not None:
            qs = qs.filter(pk__in=selection)
        if _on_postgresql():
            # Cards another transaction is batching right now are skipped, not waited for.
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        # The ids in print order, 8 bytes each in an array, with the formats and the last due date
        # read in the same pass: no Python int per card, and no query carrying every id.
        ids = array("q")
        formats: set[str] = set()
        last_due = dt.date.min
        rows = qs.in_print_order(order).values_list("pk", "design__format", "touchpoint__due_on")
        for pk, card_format, due_on in rows:
            ids.append(pk)
            formats.add(card_format)
            last_due = max(last_due, due_on)
        if not ids:
            raise BatchError(_nothing_to_print(due_by))
        if selection is not None and len(ids) != len(selection):
            raise BatchError("Some of the selected cards were taken into another batch meanwhile; no batch was built.")
        if due_by is None:
            due_by = last_due
        per_chunk, per_file = file_size(sheet=sheet, formats=sorted(formats))
        labels_size = labels_chunk_size(labels)
        files = [
            BatchFile(index=index, first_sequence=first, last_sequence=min(first + per_file - 1, len(ids)))
            for index, first in enumerate(range(1, len(ids) + 1, per_file))
        ]
        batch = Batch.objects.create(
            status=QUEUED,
            due_by=due_by,
            sheet=sheet,
            labels=labels,
            order=order,
            card_count=len(ids),
            chunk_count=len(range(0, len(ids), per_chunk)) + len(range(0, len(ids), labels_size)),
            file_size=per_file,
            file_count=len(files),
            created_by_id=by.pk if by is not None else None,
            card_selection=selection,
            retry_of=retry_of,
        )
        _assign(batch, ids, now)
        # Thousands of chunks in a seasonal batch: made and written a page at a time.
        chunks = _chunks(batch, len(ids), per_chunk, labels_size)
        while chunk_page := list(islice(chunks, _CHUNK_PAGE)):
            BatchChunk.objects.bulk_create(chunk_page)
        for print_file in files:
            print_file.batch = batch
        BatchFile.objects.bulk_create(files)
        if enqueue:
            transaction.on_commit(partial(enqueue_chunks, batch.pk, range(batch.chunk_count)))
    log.info("batch %s: %d cards in %d chunks", batch.code, batch.card_count, batch.chunk_count)
    return batch


def _chunks(batch: Batch, cards: int, size: int, labels_size: int) -> Iterator[BatchChunk]:
    """The cards chunks, then the labels chunks: queued in that order, the short labels runs fill
    the workers' last gaps."""
    runs = chain(
        ((BatchChunk.Kind.CARDS, first, min(first + size - 1, cards)) for first in range(1, cards + 1, size)),
        (
            (BatchChunk.Kind.LABELS, first, min(first + labels_size - 1, cards))
            for first in range(1, cards + 1, labels_size)
        ),
    )
    for index, (kind, first, last) in enumerate(runs):
        yield BatchChunk(batch=batch, index=index, kind=kind, first_sequence=first, last_sequence=last)


def enqueue_chunks(batch_id: int, indexes: Iterable[int]) -> None:
    signals.batch_chunks_to_render.send(sender=Batch, batch_id=batch_id, indexes=list(indexes))


def enqueue_finish(batch_id: int) -> None:
    signals.batch_to_finish.send(sender=Batch, batch_id=batch_id)


def batch_rerender(*, batch: Batch, by: AbstractBaseUser | None, enqueue: bool = True) -> Batch:
    """Render a failed batch again: a new batch with its parameters and (what remains of) its cards."""
    batch.refresh_from_db()
    if batch.status != Batch.Status.FAILED:
        raise BatchError(f"Batch {batch.code} is {batch.get_status_display().lower()}: only failed batches re-render.")
    if batch.retries.exists():
        raise BatchError(f"Batch {batch.code} was already re-rendered as {batch.retries.get().code}.")
    card_ids = None
    if batch.card_selection is not None:
        card_ids = list(Card.objects.batchable().filter(pk__in=batch.card_selection).values_list("pk", flat=True))
        if not card_ids:
            raise BatchError(f"None of the cards of batch {batch.code} can be printed any more.")
    return batch_create(
        due_by=batch.due_by if card_ids is None else None,
        sheet=batch.sheet,
        labels=batch.labels,
        by=by,
        card_ids=card_ids,
        order=batch.order,
        enqueue=enqueue,
        retry_of=batch,
    )


# --- Rendering --------------------------------------------------------------------------------


def _render_cards(batch: Batch, cards: Sequence[PrintCard]) -> bytes:
    """A run of cards' pages, as a fragment (each design's outside rendered once per process and
    reused); a message that does not fit is flagged on its card."""
    try:
        return render_cards_fragment(cards, sheet=batch.sheet)
    except CardDoesNotFit as exc:
        # Rendering again will not help: record why on the card, and fail the batch (the task
        # does not retry a BatchError). The card goes back to draft when the batch fails.
        Card.objects.filter(batch=batch, sequence=_sequence_of(exc.sequence_code)).update(
            fits=False, fit_problem=exc.problem[:300], updated_at=timezone.now()
        )
        raise BatchError(f"The card {exc.sequence_code} does not fit: {exc.problem}") from exc


def _sequence_of(code: str) -> int | None:
    tail = code.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def render_chunk(batch: Batch, chunk: BatchChunk) -> bytes:
    """A chunk's pages, as a fragment ready to be joined."""
    cards = print_cards(batch, chunk.first_sequence, chunk.last_sequence)
    expected = chunk.last_sequence - chunk.first_sequence + 1
    if len(cards) != expected:
        raise BatchError(f"Chunk {chunk.index} of batch {batch.code} has {len(cards)} cards instead of {expected}.")
    if chunk.kind == BatchChunk.Kind.LABELS:
        return pdf_fragment(render_labels_pdf(cards, labels=batch.labels))
    return _render_cards(batch, cards)


def batch_render_chunk(*, batch_id: int, index: int) -> bool:
    """Render one chunk. True when this call completed it; False when there was nothing to do.

    Raises BatchError for what no retry can mend (a message that does not fit).
    """
    chunk = BatchChunk.objects.select_related("batch").filter(batch_id=batch_id, index=index).first()
    if chunk is None:
        log.info("batch %s chunk %s: gone (the batch failed or was deleted)", batch_id, index)
        return False
    batch = chunk.batch
    if batch.status not in BATCH_RENDERING or chunk.rendered_at is not None:
        return False
    Batch.objects.filter(pk=batch_id, status=QUEUED).update(status=RENDERING, started_at=timezone.now())
    name = _store(chunk_file_name(chunk), render_chunk(batch, chunk))
    cards = chunk.last_sequence - chunk.first_sequence + 1 if chunk.kind == BatchChunk.Kind.CARDS else 0
    with transaction.atomic():
        # Only the first completion counts: a message delivered again after a worker died, or a
        # chunk queued again by the stall sweep, renders and then finds the chunk claimed.
        claimed = BatchChunk.objects.filter(pk=chunk.pk, rendered_at__isnull=True).update(
            rendered_at=timezone.now(), pdf=name
        )
        if claimed:
            claimed = Batch.objects.filter(pk=batch_id, status__in=BATCH_RENDERING).update(
                chunks_done=F("chunks_done") + 1,
                cards_done=F("cards_done") + cards,
                status=RENDERING,
            )
            if not claimed:  # the batch failed meanwhile
                transaction.set_rollback(True)
    if not claimed:
        _delete_files([name])
    return bool(claimed)


def batch_chunks_complete(batch_id: int) -> bool:
    """Every chunk rendered and the batch not finished yet: time for batch_finish."""
    return (
        Batch.objects.filter(pk=batch_id, status=RENDERING).exists()
        and not BatchChunk.objects.filter(batch_id=batch_id, rendered_at__isnull=True).exists()
    )


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as file:
        data: bytes = file.read()
    return data


def _join_to_storage(fragments: Iterable[bytes], first_choice: str) -> str:
    """Join fragments, in order, into a new stored PDF; one fragment in memory at a time."""
    with tempfile.TemporaryFile() as joined:
        join_fragments(fragments, joined)
        joined.seek(0)
        return str(default_storage.save(first_choice, File(joined)))


def _file_chunks(print_file: BatchFile) -> Any:
    return BatchChunk.objects.filter(
        batch_id=print_file.batch_id,
        kind=BatchChunk.Kind.CARDS,
        first_sequence__gte=print_file.first_sequence,
        last_sequence__lte=print_file.last_sequence,
    ).order_by("index")


def print_file_name(print_file: BatchFile) -> str:
    return f"batches/{print_file.download_name}"


def batch_join_files(*, batch_id: int, chunk_index: int | None = None) -> int:
    """Join every print file whose chunks are all rendered and that is not joined yet (or only the
    file of the chunk `chunk_index`); how many this call joined.

    Called by each chunk's task after its commit (for its own file: a batch of 100,000 cards has
    200 files, and 2,000 chunk tasks), and by ``batch_finish`` for every file, such as one whose
    last chunk's worker died before it joined. Two calls may join the same file: the first to
    claim it (a conditional UPDATE) keeps its PDF, the other deletes its own.
    """
    joined = 0
    pending = BatchFile.objects.filter(batch_id=batch_id, joined_at__isnull=True, batch__status=RENDERING)
    if chunk_index is not None:
        chunk = BatchChunk.objects.filter(batch_id=batch_id, index=chunk_index, kind=BatchChunk.Kind.CARDS).first()
        if chunk is None:
            return 0  # a labels chunk, or the batch is gone
        pending = pending.filter(first_sequence__lte=chunk.first_sequence, last_sequence__gte=chunk.first_sequence)
    for print_file in pending.order_by("index"):
        chunks = list(_file_chunks(print_file))
        if not chunks or any(chunk.rendered_at is None or not chunk.pdf for chunk in chunks):
            continue
        try:
            name = _join_to_storage((_read(chunk.pdf.name) for chunk in chunks), print_file_name(print_file))
        except OSError:
            # Another call joined it and deleted the chunks' fragments meanwhile; or they are lost.
            if BatchFile.objects.filter(pk=print_file.pk, joined_at__isnull=False).exists():
                continue
            raise
        with transaction.atomic():
            claimed = BatchFile.objects.filter(pk=print_file.pk, joined_at__isnull=True).update(
                pdf=name, joined_at=timezone.now()
            )
            if claimed:
                claimed = Batch.objects.filter(pk=batch_id, status=RENDERING).update(files_done=F("files_done") + 1)
                if not claimed:  # the batch failed meanwhile
                    transaction.set_rollback(True)
                else:
                    BatchChunk.objects.filter(pk__in=[chunk.pk for chunk in chunks]).update(pdf="")
        if not claimed:
            _delete_files([name])
            continue
        # The print file holds these pages now.
        _delete_files(chunk.pdf.name for chunk in chunks)
        joined += 1
        log.info(
            "batch %s: print file %d of cards %d-%d joined",
            batch_id,
            print_file.index + 1,
            print_file.first_sequence,
            print_file.last_sequence,
        )
    return joined


def _manifest_and_zones(batch: Batch) -> tuple[bytes, bytes]:
    """The manifest (one row per card, in sequence order) and the count per country and postal zone,
    in one pass over the cards."""
    counted: dict[tuple[str, str], int] = {}
    cards = zone_counts(each_print_card(batch), counted)
    manifest = render_manifest_csv(cards, batch_code=batch.code)
    return manifest, render_zones_csv(counted)


def batch_finish(*, batch_id: int) -> bool:
    """Join the print files not joined yet and the labels, write the manifest and the zones, mark
    the batch ready. True when this call did.
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status != RENDERING:
        return False
    chunks = list(BatchChunk.objects.filter(batch_id=batch_id).order_by("index"))
    if len(chunks) != batch.chunk_count or any(chunk.rendered_at is None for chunk in chunks):
        return False
    batch_join_files(batch_id=batch_id)
    files = list(BatchFile.objects.filter(batch_id=batch_id).order_by("index"))
    if any(print_file.joined_at is None for print_file in files):
        return False
    first_choice = batch_file_names(batch)
    labels = [chunk for chunk in chunks if chunk.kind == BatchChunk.Kind.LABELS]
    names = {"labels_pdf": _join_to_storage((_read(chunk.pdf.name) for chunk in labels), first_choice["labels_pdf"])}
    manifest, zones = _manifest_and_zones(batch)
    names["manifest_csv"] = _store(first_choice["manifest_csv"], manifest)
    names["zones_csv"] = _store(first_choice["zones_csv"], zones)
    with transaction.atomic():
        # A batch of one print file keeps its cards PDF where every earlier batch had it.
        cards_pdf = {"cards_pdf": files[0].pdf.name} if len(files) == 1 else {}
        claimed = Batch.objects.filter(pk=batch_id, status=RENDERING).update(
            status=READY, rendered_at=timezone.now(), error="", **names, **cards_pdf
        )
        if claimed:
            BatchChunk.objects.filter(batch_id=batch_id).update(pdf="")
    if not claimed:
        _delete_files(names.values())
        return False
    # The joined files hold every page now.
    _delete_files(chunk.pdf.name for chunk in labels)
    log.info("batch %s ready: %d cards in %d print file(s)", batch.code, batch.card_count, len(files))
    return True


def batch_fail(*, batch_id: int, error: str) -> bool:
    """Rendering failed for good: keep the error, put the cards back in the queue. True when this call did.

    A card found not to fit goes back to draft rather than to the queue.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Batch.objects.filter(pk=batch_id, status__in=BATCH_RENDERING).update(
            status=Batch.Status.FAILED, error=error.strip()[:_ERROR_MAX] or "Rendering failed.", rendered_at=None
        )
        if not claimed:
            return False
        released = Card.objects.filter(batch_id=batch_id, status=Card.Status.BATCHED).update(
            status=Case(When(fits=False, then=Value(Card.Status.DRAFT)), default=Value(Card.Status.APPROVED)),
            batch=None,
            sequence=None,
            updated_at=now,
        )
        names = [name for name in BatchChunk.objects.filter(batch_id=batch_id).values_list("pdf", flat=True) if name]
        names += [name for name in BatchFile.objects.filter(batch_id=batch_id).values_list("pdf", flat=True) if name]
        # A chunk still rendering finds its row gone and throws its files away.
        BatchChunk.objects.filter(batch_id=batch_id).delete()
        BatchFile.objects.filter(batch_id=batch_id).delete()
        transaction.on_commit(partial(_delete_files, names))
    log.warning("batch %s failed (%d cards back in the queue): %s", batch_id, released, error)
    return True


def batches_resume_stalled(*, idle_for: dt.timedelta = dt.timedelta(0), enqueue: bool = True) -> int:
    """Queue again the unrendered chunks (or the finish) of batches with no progress for `idle_for`.

    A worker killed while it held a chunk's message may have taken the message with it (the
    filesystem broker; Redis gives it back only after its visibility timeout). Rendering a chunk
    twice is harmless, so when in doubt this queues it again. Returns how many tasks were queued.
    """
    cutoff = timezone.now() - idle_for
    queued = 0
    for batch in Batch.objects.rendering().filter(created_at__lte=cutoff).order_by("pk"):
        chunks = list(batch.chunks.order_by("index"))
        last_progress = max((chunk.rendered_at for chunk in chunks if chunk.rendered_at), default=None)
        if last_progress is not None and last_progress > cutoff:
            continue
        todo = [chunk.index for chunk in chunks if chunk.rendered_at is None]
        if enqueue:
            if todo:
                enqueue_chunks(batch.pk, todo)
            else:
                enqueue_finish(batch.pk)
        queued += len(todo) or 1
        log.info("batch %s: queued %d chunk(s) again after no progress since %s", batch.code, len(todo), cutoff)
    return queued


# --- After rendering --------------------------------------------------------------------------


def batch_reprint(*, batch: Batch) -> Batch:
    """A rendered batch's files, for printing again: the stored ones, rendered again only if lost.

    Rendering is deterministic and follows the batch's chunks, so a lost file comes back with
    the bytes it had.
    """
    batch.refresh_from_db()
    if batch.status not in BATCH_DOWNLOADABLE:
        raise BatchError(f"Batch {batch.code} is {batch.get_status_display().lower()}: it has no files to print.")
    files = list(batch.files.order_by("index"))
    keys = ["labels_pdf", "manifest_csv"]
    if batch.file_count:
        keys.append("zones_csv")
    if not files or len(files) == 1:  # a batch built before print files, or of one print file
        keys.append("cards_pdf")
    missing = [key for key in keys if not _file_exists(getattr(batch, key))]
    lost_files = [print_file for print_file in files if not _file_exists(print_file.pdf)]
    if not missing and not lost_files:
        return batch
    first_choice = batch_file_names(batch)
    names: dict[str, str] = {}
    if "manifest_csv" in missing or "zones_csv" in missing:
        manifest, zones = _manifest_and_zones(batch)
        if "manifest_csv" in missing:
            names["manifest_csv"] = _store(first_choice["manifest_csv"], manifest)
        if "zones_csv" in missing:
            names["zones_csv"] = _store(first_choice["zones_csv"], zones)
    for print_file in lost_files:
        chunks = _file_chunks(print_file)
        name = _join_to_storage((render_chunk(batch, chunk) for chunk in chunks), print_file_name(print_file))
        BatchFile.objects.filter(pk=print_file.pk).update(pdf=name)
        print_file.pdf.name = name
    if len(files) == 1:
        names["cards_pdf"] = files[0].pdf.name
    for kind in (BatchChunk.Kind.CARDS, BatchChunk.Kind.LABELS):
        key = f"{kind}_pdf"
        if key in missing and key not in names:
            chunks = batch.chunks.filter(kind=kind).order_by("index")
            names[key] = _join_to_storage((render_chunk(batch, chunk) for chunk in chunks), first_choice[key])
    Batch.objects.filter(pk=batch.pk).update(**names)
    lost = [*missing, *(f"print file {print_file.index + 1}" for print_file in lost_files)]
    log.info("batch %s: rendered the lost %s again", batch.code, ", ".join(lost))
    batch.refresh_from_db()
    return batch


def _file_exists(file: Any) -> bool:
    return bool(file) and bool(default_storage.exists(file.name))


def batch_mark_printed(*, batch: Batch, by: AbstractBaseUser) -> Batch:
    """The print room printed a ready batch."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Batch.objects.filter(pk=batch.pk, status=READY).update(status=Batch.Status.PRINTED, printed_at=now)
        if not claimed:
            batch.refresh_from_db()
            raise BatchError(
                f"Batch {batch.code} is {batch.get_status_display().lower()}: only a ready batch can be marked printed."
            )
        printing = Card.objects.filter(batch=batch, status=Card.Status.BATCHED)
        printed_ids = list(printing.values_list("pk", flat=True))
        printing.update(status=Card.Status.PRINTED, updated_at=now)
        card_events(type=WebhookEventType.CARD_PRINTED, card_ids=printed_ids)
    log.info("batch %s printed (by %s)", batch.code, by.get_username())
    batch.refresh_from_db()
    return batch


def batch_mark_mailed(*, batch: Batch, by: AbstractBaseUser) -> MailResult:
    """The cards were posted: they become mailed and their touchpoints done.

    Withdrawn cards (customer no longer active, or touchpoint cancelled or skipped since the
    card was batched) are left as they are and named in the result: they must not be posted.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Batch.objects.filter(pk=batch.pk, status__in=(READY, Batch.Status.PRINTED)).update(
            status=Batch.Status.MAILED,
            mailed_at=now,
            printed_at=Coalesce(F("printed_at"), Value(now)),
        )
        if not claimed:
            batch.refresh_from_db()
            raise BatchError(
                f"Batch {batch.code} is {batch.get_status_display().lower()}: "
                "only a ready or printed batch can be marked mailed."
            )
        in_batch = Card.objects.filter(batch=batch, status__in=(Card.Status.BATCHED, Card.Status.PRINTED))
        withdrawn = list(in_batch.withdrawn().select_related("touchpoint__customer").order_by("sequence"))
        mailing = in_batch.exclude(pk__in=[card.pk for card in withdrawn])
        mailing_rows = list(mailing.values_list("pk", "touchpoint_id"))
        touchpoint_ids = [touchpoint_id for _, touchpoint_id in mailing_rows]
        mailed = mailing.update(status=Card.Status.MAILED, updated_at=now)
        completed: list[int] = []
        for start in range(0, len(touchpoint_ids), 5000):
            pending = Touchpoint.objects.filter(
                pk__in=touchpoint_ids[start : start + 5000], status=Touchpoint.Status.PENDING
            )
            completed += pending.values_list("pk", flat=True)
            pending.update(status=Touchpoint.Status.DONE, completed_at=now, completed_by=by, updated_at=now)
        # Webhooks, recorded in this transaction (the outbox): card.mailed, and touchpoint.completed.
        card_events(type=WebhookEventType.CARD_MAILED, card_ids=[card_id for card_id, _ in mailing_rows])
        touchpoint_events(completed)
        # A referral-thanks card mailed thanks the referrals it was for (referral.thanked).
        referrals_thank(touchpoint_ids=completed, now=now)
    result = MailResult(
        mailed=mailed, withdrawn=[f"{card.sequence_code} ({card.recipient_name})" for card in withdrawn]
    )
    log.info("batch %s mailed: %d cards, %d withdrawn", batch.code, mailed, len(withdrawn))
    return result
