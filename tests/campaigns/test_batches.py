"""Print batches: building, rendering in chunks, failing, the files, the lifecycle, the command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from typing import Any
from unittest.mock import Mock

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse
from pypdf import PdfReader

from campaigns.models import Batch, BatchChunk, Card, Touchpoint
from campaigns.printing import DesignSpec, PrintCard, Recipient, render_cards_pdf
from campaigns.printing.formats import imposition
from campaigns.printing.pdfjoin import join_pdfs
from campaigns.services import batches as batches_service
from campaigns.services.batches import (
    BatchError,
    batch_chunks_complete,
    batch_create,
    batch_fail,
    batch_finish,
    batch_mark_mailed,
    batch_mark_printed,
    batch_render_chunk,
    batch_reprint,
    batch_rerender,
    batches_resume_stalled,
    chunk_size,
    labels_chunk_size,
)
from nurture.models import Customer
from tests.campaigns.test_cards_workflow import SHORT, TOO_LONG, make_card
from tests.factories import make_customer, make_user
from tests.support.concurrency import at_once

D = dt.date
DUE_BY = D(2025, 3, 31)
CODE = re.compile(r"\bB\d+-\d{3,}\b")

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def build(**fields) -> Batch:
    options: dict[str, Any] = {"due_by": DUE_BY, "sheet": "card", "labels": "l7160", "by": None, "enqueue": False}
    options.update(fields)
    return batch_create(**options)


def render(batch: Batch) -> Batch:
    """What the workers do, in this process."""
    for index in range(batch.chunk_count):
        assert batch_render_chunk(batch_id=batch.pk, index=index)
    assert batch_finish(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def stored(file) -> bytes:
    with default_storage.open(file.name, "rb") as f:
        return f.read()


def pdf_codes(content: bytes) -> list[str]:
    """The sequence codes printed on a PDF, page by page, in order."""
    codes = []
    for page in PdfReader(io.BytesIO(content)).pages:
        codes += CODE.findall(page.extract_text() or "")
    return codes


def manifest_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def cards(n: int, **fields) -> list[Card]:
    return [make_card(customer=make_customer(last_name=f"Zed {i:02d}"), **fields) for i in range(n)]


# --- Building -----------------------------------------------------------------------------------


def test_a_batch_takes_the_approved_cards_due_by_the_date_in_mail_by_surname_order():
    late = make_card(due_on=D(2025, 3, 20), customer=make_customer(last_name="Adams"))
    smith = make_card(due_on=D(2025, 3, 10), customer=make_customer(last_name="Smith"))
    baker = make_card(due_on=D(2025, 3, 10), customer=make_customer(last_name="Baker"))
    overdue = make_card(due_on=D(2025, 2, 1), customer=make_customer(last_name="Young"))

    batch = build()

    assert (batch.status, batch.card_count, batch.chunk_count, batch.due_by) == ("queued", 4, 2, DUE_BY)
    in_order = list(Card.objects.filter(batch=batch).order_by("sequence").values_list("pk", "sequence", "status"))
    assert in_order == [
        (overdue.pk, 1, "batched"),
        (baker.pk, 2, "batched"),
        (smith.pk, 3, "batched"),
        (late.pk, 4, "batched"),
    ]
    assert Card.objects.get(pk=baker.pk).sequence_code == f"B{batch.pk}-002"


def test_a_batch_leaves_out_what_must_not_be_printed():
    wanted = make_card()
    make_card(status="draft")
    make_card(due_on=D(2025, 4, 1))
    make_card(customer=make_customer(status="do_not_contact"))
    make_card(customer=make_customer(status="paused"))
    make_card(customer=make_customer(status="churned"))
    cancelled = make_card()
    Touchpoint.objects.filter(pk=cancelled.touchpoint_id).update(status="cancelled", cancel_reason="x")
    make_card(status="draft", fits=False, fit_problem="too long")
    build()  # takes `wanted`

    assert list(Card.objects.filter(batch__isnull=False).values_list("pk", flat=True)) == [wanted.pk]
    with pytest.raises(BatchError, match="No approved cards due by 2025-03-31"):
        build()


def test_an_approved_card_is_checked_for_fit_before_it_enters_a_batch_and_left_out_if_it_does_not_fit():
    fits = make_card(fits=None)
    long = make_card(fits=None, message=TOO_LONG)

    batch = build()

    assert list(batch.cards.values_list("pk", flat=True)) == [fits.pk]
    long.refresh_from_db()
    assert (long.status, long.fits, long.batch) == ("draft", False, None)
    assert "shorten it" in long.fit_problem


def test_an_empty_batch_is_refused_with_the_reason():
    with pytest.raises(BatchError, match=r"No approved cards due by 2025-03-31 are waiting to be printed\."):
        build()
    assert not Batch.objects.exists()


def test_a_selection_with_a_card_that_does_not_qualify_builds_nothing_and_names_it():
    good = make_card()
    unfit = make_card(status="draft", fits=False, fit_problem="needs 16 cm", customer=make_customer(first_name="Bo"))

    with pytest.raises(BatchError, match=r"the card for Bo .* is draft, not approved"):
        build(due_by=None, card_ids=[good.pk, unfit.pk])
    assert not Batch.objects.exists()
    assert Card.objects.get(pk=good.pk).status == "approved"

    batch = build(due_by=None, card_ids=[good.pk])
    assert (batch.card_count, batch.due_by, batch.card_selection) == (1, D(2025, 3, 10), [good.pk])


def test_a_card_is_in_one_batch_at_most():
    card = make_card()
    first = build()

    with pytest.raises(BatchError, match=rf"already in batch {first.code} \({first.code}-001\)"):
        build(due_by=None, card_ids=[card.pk])
    with pytest.raises(BatchError):
        build()


def test_building_is_all_or_nothing(monkeypatch):
    made = cards(3)
    monkeypatch.setattr(BatchChunk.objects, "bulk_create", Mock(side_effect=RuntimeError("disk full")))

    with pytest.raises(RuntimeError, match="disk full"):
        build()

    assert not Batch.objects.exists()
    assert set(Card.objects.values_list("status", flat=True)) == {"approved"}
    assert not Card.objects.filter(sequence__isnull=False).exists()
    assert len(made) == 3


def test_a_batch_queues_its_chunks_once_its_transaction_commits(django_capture_on_commit_callbacks, monkeypatch):
    delay = Mock()
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", delay)
    cards(3)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = build(enqueue=True)
    assert delay.call_count == 0
    for callback in callbacks:
        callback()

    assert [call.args[0] for call in delay.call_args_list] == [(batch.pk, 0), (batch.pk, 1)]


def test_chunks_are_whole_sheets(settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 50
    assert chunk_size(sheet="card", formats=["a6_folded"]) == 50
    per_sheet = imposition("a6_folded", "a4").per_sheet
    assert chunk_size(sheet="a4", formats=["a6_folded"]) % per_sheet == 0
    settings.NURTURE_BATCH_CHUNK_SIZE = 1
    assert chunk_size(sheet="a4", formats=["a6_folded"]) == per_sheet
    assert labels_chunk_size("l7160") == 21 * 5
    assert labels_chunk_size("5160") == 30 * 3
    assert labels_chunk_size("c6") == 100


def test_a_batch_is_cut_into_cards_chunks_then_labels_chunks(settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    cards(5)

    batch = build(labels="c6")

    chunks = list(batch.chunks.values_list("index", "kind", "first_sequence", "last_sequence"))
    assert chunks == [(0, "cards", 1, 2), (1, "cards", 3, 4), (2, "cards", 5, 5), (3, "labels", 1, 5)]
    assert batch.chunk_count == 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_people_building_batches_at_once_never_share_a_card(on_postgresql):
    if not on_postgresql:
        pytest.skip("SQLite serialises writers: two batch_create calls cannot overlap there")
    made = cards(40)

    def build_one() -> Batch:
        return build(due_by=DUE_BY)

    results = at_once(*[build_one] * 4, expected=(BatchError,))
    batches = [result for result in results if isinstance(result, Batch)]
    assert batches, results
    batched = list(Card.objects.filter(batch__isnull=False).values_list("pk", flat=True))
    assert sorted(batched) == sorted(card.pk for card in made)
    assert sum(batch.card_count for batch in batches) == len(made)
    for batch in batches:
        assert list(batch.cards.order_by("sequence").values_list("sequence", flat=True)) == list(
            range(1, batch.card_count + 1)
        )


# --- Rendering ----------------------------------------------------------------------------------


def test_sequence_codes_match_on_cards_labels_and_manifest(settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    made = cards(5)

    batch = render(build(labels="c6"))

    assert (batch.status, batch.chunk_count, batch.chunks_done) == ("ready", 4, 4)
    expected = [f"{batch.code}-{n:03d}" for n in range(1, 6)]
    cards_pdf = stored(batch.cards_pdf)
    # Two pages per folded A6 card on sheet=card (outside, inside), each carrying the card's code.
    assert len(PdfReader(io.BytesIO(cards_pdf)).pages) == 10
    assert sorted(set(pdf_codes(cards_pdf))) == expected
    assert list(dict.fromkeys(pdf_codes(cards_pdf))) == expected
    assert pdf_codes(stored(batch.labels_pdf)) == expected
    rows = manifest_rows(stored(batch.manifest_csv))
    assert [row[next(iter(row))] for row in rows] == expected
    names = {card.recipient_name for card in made}
    assert {row_name for row in rows for row_name in row.values() if row_name in names} == names
    # The chunks' own files are gone: the joined files hold every page.
    assert set(BatchChunk.objects.filter(batch=batch).values_list("pdf", flat=True)) == {""}


def test_labels_come_in_whole_sheets_in_the_order_of_the_cards(monkeypatch):
    monkeypatch.setattr(batches_service, "LABELS_PER_CHUNK", 21)
    cards(23)

    batch = render(build(labels="l7160"))

    assert list(batch.chunks.values_list("kind", "first_sequence", "last_sequence")) == [
        ("cards", 1, 23),
        ("labels", 1, 21),
        ("labels", 22, 23),
    ]
    assert pdf_codes(stored(batch.labels_pdf)) == [f"{batch.code}-{n:03d}" for n in range(1, 24)]
    assert len(PdfReader(io.BytesIO(stored(batch.labels_pdf))).pages) == 2


def test_a_chunk_rendered_twice_counts_once():
    cards(2)
    batch = build()

    assert batch_render_chunk(batch_id=batch.pk, index=0)
    assert not batch_render_chunk(batch_id=batch.pk, index=0)

    batch.refresh_from_db()
    assert (batch.status, batch.chunks_done, batch.chunk_count) == ("rendering", 1, 2)
    assert not batch_chunks_complete(batch.pk)
    assert batch_render_chunk(batch_id=batch.pk, index=1)
    assert batch_chunks_complete(batch.pk)


def test_a_duplicate_render_that_loses_the_race_throws_its_files_away(monkeypatch):
    cards(1)
    batch = build()
    chunk = BatchChunk.objects.get(batch=batch, index=0)
    # Another worker claims the chunk while this one renders.
    real = batches_service.render_chunk

    def claimed_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        BatchChunk.objects.filter(pk=chunk.pk).update(rendered_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
        return result

    monkeypatch.setattr(batches_service, "render_chunk", claimed_meanwhile)
    assert not batch_render_chunk(batch_id=batch.pk, index=0)

    batch.refresh_from_db()
    assert batch.chunks_done == 0
    assert default_storage.listdir("batches/chunks")[1] == []


def test_the_same_batch_renders_to_the_same_bytes(settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    cards(3)
    batch = render(build(sheet="a4"))
    files = {key: stored(getattr(batch, key)) for key in ("cards_pdf", "labels_pdf", "manifest_csv")}

    # Lose the stored files: rendering them again from the cards gives the same bytes.
    for key in files:
        default_storage.delete(getattr(batch, key).name)
    again = batch_reprint(batch=batch)

    assert {key: stored(getattr(again, key)) for key in files} == files


def test_a_ready_batch_downloads_the_stored_files_again(settings):
    cards(2)
    batch = render(build())
    first = stored(batch.cards_pdf)

    assert batch_reprint(batch=batch).cards_pdf.name == batch.cards_pdf.name
    assert stored(batch.cards_pdf) == first


def test_joining_keeps_every_page_in_order():
    spec = DesignSpec(slug="a", format="a6_folded", artwork="thank_you")
    parts = [
        render_cards_pdf([PrintCard(f"B9-{i:03d}", spec, SHORT, Recipient(name=f"R {i}"))], sheet="card")
        for i in (1, 2, 3)
    ]
    out = io.BytesIO()

    join_pdfs(parts, out)

    reader = PdfReader(io.BytesIO(out.getvalue()))
    assert len(reader.pages) == 6
    assert pdf_codes(out.getvalue()) == ["B9-001", "B9-001", "B9-002", "B9-002", "B9-003", "B9-003"]
    assert reader.pages[1].mediabox == PdfReader(io.BytesIO(parts[0])).pages[1].mediabox
    assert reader.pages[1].trimbox == PdfReader(io.BytesIO(parts[0])).pages[1].trimbox
    # Deterministic: the same parts join to the same bytes.
    again = io.BytesIO()
    join_pdfs(parts, again)
    assert again.getvalue() == out.getvalue()


# --- Failing ------------------------------------------------------------------------------------


def test_a_failed_batch_keeps_the_error_and_puts_its_cards_back_in_the_queue(
    settings, django_capture_on_commit_callbacks
):
    settings.NURTURE_BATCH_CHUNK_SIZE = 1
    made = cards(2)
    batch = build(labels="c6")
    assert batch_render_chunk(batch_id=batch.pk, index=0)
    chunk_files = list(BatchChunk.objects.filter(batch=batch).values_list("pdf", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        assert batch_fail(batch_id=batch.pk, error="RuntimeError: the printer caught fire")

    batch.refresh_from_db()
    assert (batch.status, batch.error) == ("failed", "RuntimeError: the printer caught fire")
    assert not BatchChunk.objects.filter(batch=batch).exists()
    assert not any(default_storage.exists(name) for name in chunk_files if name)
    for card in made:
        card.refresh_from_db()
        assert (card.status, card.batch, card.sequence) == ("approved", None, None)
    # A chunk still rendering somewhere finds nothing to do; failing twice changes nothing.
    assert not batch_render_chunk(batch_id=batch.pk, index=1)
    assert not batch_fail(batch_id=batch.pk, error="again")


def test_a_card_found_not_to_fit_while_rendering_fails_the_batch_and_goes_back_to_draft():
    fine = make_card()
    sneaky = make_card(fits=True, message=TOO_LONG, customer=make_customer(last_name="Zz"))
    batch = build()

    with pytest.raises(BatchError, match=rf"The card {batch.code}-002 does not fit"):
        batch_render_chunk(batch_id=batch.pk, index=0)
    batch_fail(batch_id=batch.pk, error="does not fit")

    assert Card.objects.get(pk=fine.pk).status == "approved"
    sneaky.refresh_from_db()
    assert (sneaky.status, sneaky.fits, sneaky.batch) == ("draft", False, None)


def test_a_failed_batch_renders_again_as_a_new_batch_with_its_cards():
    made = cards(2)
    extra = make_card()
    failed = build(due_by=None, card_ids=[card.pk for card in made])
    batch_fail(batch_id=failed.pk, error="boom")

    retry = batch_rerender(batch=failed, by=None, enqueue=False)

    assert retry.retry_of == failed
    assert set(retry.cards.values_list("pk", flat=True)) == {card.pk for card in made}
    assert Card.objects.get(pk=extra.pk).batch is None
    with pytest.raises(BatchError, match=f"already re-rendered as {retry.code}"):
        batch_rerender(batch=failed, by=None)
    with pytest.raises(BatchError, match="only failed batches"):
        batch_rerender(batch=retry, by=None)


def test_a_stalled_batch_has_its_unrendered_chunks_queued_again(settings, monkeypatch):
    settings.NURTURE_BATCH_CHUNK_SIZE = 1
    cards(3)
    batch = build(labels="c6")
    batch_render_chunk(batch_id=batch.pk, index=1)
    delay = Mock()
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", delay)

    assert batches_resume_stalled(idle_for=dt.timedelta(minutes=10)) == 0  # progress just now
    assert batches_resume_stalled() == 3

    assert [call.args[0] for call in delay.call_args_list] == [(batch.pk, 0), (batch.pk, 2), (batch.pk, 3)]


# --- After rendering ----------------------------------------------------------------------------


def test_printed_then_mailed_closes_the_cards_and_their_touchpoints(print_room):
    made = cards(2)
    batch = render(build())

    with pytest.raises(BatchError, match="only a ready batch"):
        batch_mark_printed(batch=Batch.objects.create(due_by=DUE_BY), by=print_room)
    batch = batch_mark_printed(batch=batch, by=print_room)
    assert batch.status == "printed"
    assert set(batch.cards.values_list("status", flat=True)) == {"printed"}
    with pytest.raises(BatchError, match="only a ready batch"):
        batch_mark_printed(batch=batch, by=print_room)

    result = batch_mark_mailed(batch=batch, by=print_room)

    batch.refresh_from_db()
    assert (result.mailed, result.withdrawn, batch.status) == (2, [], "mailed")
    assert batch.mailed_at is not None
    for card in made:
        card.refresh_from_db()
        assert card.status == "mailed"
        assert (card.touchpoint.status, card.touchpoint.completed_by) == ("done", print_room)
        assert card.touchpoint.completed_at is not None
    with pytest.raises(BatchError, match="only a ready or printed batch"):
        batch_mark_mailed(batch=batch, by=print_room)
    assert batch_reprint(batch=batch).status == "mailed"  # its files stay downloadable


def test_a_card_whose_customer_became_do_not_contact_after_batching_is_not_mailed():
    user = make_user()
    keep, withdraw = cards(2)
    batch = render(build())
    Customer.objects.filter(pk=withdraw.touchpoint.customer_id).update(status="do_not_contact")
    Touchpoint.objects.filter(pk=withdraw.touchpoint_id).update(
        status="cancelled", cancel_reason="customer is do-not-contact"
    )

    result = batch_mark_mailed(batch=batch, by=user)

    assert result.mailed == 1
    assert result.withdrawn == [f"{Card.objects.get(pk=withdraw.pk).sequence_code} ({withdraw.recipient_name})"]
    assert Card.objects.get(pk=keep.pk).status == "mailed"
    assert Card.objects.get(pk=withdraw.pk).status == "batched"
    assert Touchpoint.objects.get(pk=withdraw.touchpoint_id).status == "cancelled"


# --- The command --------------------------------------------------------------------------------


def test_print_batch_builds_renders_and_writes_the_files(tmp_path, settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    cards(3)
    out = io.StringIO()
    err = io.StringIO()

    call_command(
        "print_batch",
        "--due-by",
        "2025-03-31",
        "--output",
        str(tmp_path / "cards.pdf"),
        "--labels",
        str(tmp_path / "labels.pdf"),
        "--manifest",
        str(tmp_path / "manifest.csv"),
        "--sheet",
        "letter",
        stdout=out,
        stderr=err,
    )

    batch = Batch.objects.get()
    assert (batch.status, batch.sheet, batch.labels) == ("ready", "letter", "5160")
    expected = [f"{batch.code}-{n:03d}" for n in (1, 2, 3)]
    assert pdf_codes((tmp_path / "labels.pdf").read_bytes()) == expected
    assert set(pdf_codes((tmp_path / "cards.pdf").read_bytes())) == set(expected)
    assert len(manifest_rows((tmp_path / "manifest.csv").read_bytes())) == 3
    assert (tmp_path / "cards.pdf").read_bytes() == stored(batch.cards_pdf)
    assert "rendered chunk" in err.getvalue()
    assert "ready to print" in out.getvalue()

    # The same files again, from the stored batch.
    call_command("print_batch", "--batch", str(batch.pk), "--output", str(tmp_path / "again.pdf"), stdout=out)
    assert (tmp_path / "again.pdf").read_bytes() == (tmp_path / "cards.pdf").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--due-by", "31/03/2025"], "is not a date"),
        (["--due-by", "2025-03-31"], "No approved cards due by 2025-03-31"),
        (["--batch", "999"], "There is no batch B999"),
    ],
)
def test_print_batch_explains_what_it_cannot_do(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("print_batch", *args, "--output", str(tmp_path / "cards.pdf"))
    assert not Batch.objects.exists()


def test_print_batch_refuses_an_output_directory_that_does_not_exist(tmp_path):
    make_card()
    with pytest.raises(CommandError, match="does not exist"):
        call_command("print_batch", "--due-by", "2025-03-31", "--output", str(tmp_path / "nope" / "cards.pdf"))
    assert not Batch.objects.exists()


def test_print_batch_fails_the_batch_when_rendering_fails(tmp_path, monkeypatch):
    card = make_card()
    monkeypatch.setattr(batches_service, "render_labels_pdf", Mock(side_effect=RuntimeError("no labels today")))

    with pytest.raises(CommandError, match="no labels today"):
        call_command("print_batch", "--due-by", "2025-03-31", "--output", str(tmp_path / "cards.pdf"))

    batch = Batch.objects.get()
    assert (batch.status, batch.error) == ("failed", "RuntimeError: no labels today")
    assert Card.objects.get(pk=card.pk).status == "approved"


# --- Admin ----------------------------------------------------------------------------------------


def test_the_build_page_shows_what_qualifies_and_builds_the_batch(superuser_client, monkeypatch):
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", Mock())
    cards(2)
    make_card(status="approved", fits=None, customer=make_customer(last_name="Unchecked"))
    make_card(status="draft", fits=False, fit_problem="needs 16 cm", customer=make_customer(last_name="Long"))
    url = reverse("admin:campaigns_batch_build")

    page = superuser_client.post(url, {"due_by": "2025-03-31", "sheet": "card", "labels": "l7160", "count": "1"})
    assert page.status_code == 200
    assert (page.context["qualifying"], page.context["unchecked"]) == (3, 1)
    assert superuser_client.get(reverse("admin:campaigns_batch_add")).status_code == 200

    built = superuser_client.post(url, {"due_by": "2025-03-31", "sheet": "a4", "labels": "l7160", "build": "1"})

    batch = Batch.objects.get()
    assert built.status_code == 302
    assert built["Location"] == reverse("admin:campaigns_batch_change", args=[batch.pk])
    assert (batch.card_count, batch.sheet) == (3, "a4")


def test_the_build_page_says_why_nothing_was_built(superuser_client):
    response = superuser_client.post(
        reverse("admin:campaigns_batch_build"),
        {"due_by": "2025-03-31", "sheet": "card", "labels": "l7160", "build": "1"},
    )
    assert response.status_code == 200
    assert "No approved cards due by 2025-03-31" in response.content.decode()


def test_building_a_batch_from_selected_cards(superuser_client, monkeypatch):
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", Mock())
    chosen, _other = cards(2)
    changelist = reverse("admin:campaigns_card_changelist")

    form = superuser_client.post(changelist, {"action": "build_batch_from_selection", "_selected_action": [chosen.pk]})
    assert form.status_code == 200
    assert "Build the batch" in form.content.decode()
    done = superuser_client.post(
        changelist,
        {
            "action": "build_batch_from_selection",
            "_selected_action": [chosen.pk],
            "sheet": "card",
            "labels": "c6",
            "apply": "1",
        },
    )

    batch = Batch.objects.get()
    assert done.status_code == 302
    assert list(batch.cards.all()) == [chosen]
    assert batch.labels == "c6"


def test_the_batch_pages_show_progress_and_serve_the_files(superuser_client):
    cards(2)
    queued = build()
    page = superuser_client.get(reverse("admin:campaigns_batch_change", args=[queued.pk]))
    assert '<meta http-equiv="refresh"' in page.content.decode()
    assert superuser_client.get(reverse("admin:campaigns_batch_changelist")).status_code == 200
    progress = superuser_client.get(reverse("admin:campaigns_batch_progress", args=[queued.pk])).json()
    assert {key: progress[key] for key in ("status", "chunks_done", "chunk_count", "card_count", "error")} == {
        "status": "queued",
        "chunks_done": 0,
        "chunk_count": 2,
        "card_count": 2,
        "error": "",
    }
    not_yet = superuser_client.get(reverse("admin:campaigns_batch_download", args=[queued.pk, "cards"]), follow=True)
    assert "not there yet" in not_yet.content.decode()

    batch = render(queued)
    page = superuser_client.get(reverse("admin:campaigns_batch_change", args=[batch.pk]))
    assert '<meta http-equiv="refresh"' not in page.content.decode()
    for kind, field in (("cards", "cards_pdf"), ("labels", "labels_pdf"), ("manifest", "manifest_csv")):
        response = superuser_client.get(reverse("admin:campaigns_batch_download", args=[batch.pk, kind]))
        assert response.status_code == 200
        assert f'filename="{batch.code}-' in response["Content-Disposition"]
        assert b"".join(response.streaming_content) == stored(getattr(batch, field))


def test_downloads_need_the_view_permission(staff_client):
    cards(1)
    batch = render(build())
    assert staff_client.get(reverse("admin:campaigns_batch_download", args=[batch.pk, "cards"])).status_code == 403


def test_the_batch_actions_mark_printed_mailed_and_render_failed_batches_again(superuser_client, monkeypatch):
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", Mock())
    cards(1)
    ready = render(build())
    changelist = reverse("admin:campaigns_batch_changelist")

    superuser_client.post(changelist, {"action": "mark_printed", "_selected_action": [ready.pk]})
    assert Batch.objects.get(pk=ready.pk).status == "printed"
    superuser_client.post(changelist, {"action": "mark_mailed", "_selected_action": [ready.pk]})
    assert Batch.objects.get(pk=ready.pk).status == "mailed"

    make_card()
    failed = build()
    batch_fail(batch_id=failed.pk, error="boom")
    response = superuser_client.post(
        changelist, {"action": "rerender_failed", "_selected_action": [failed.pk]}, follow=True
    )
    retry = Batch.objects.get(retry_of=failed)
    assert f"{failed.code} is rendering again as {retry.code}." in [str(m) for m in response.context["messages"]]
    assert Counter(Batch.objects.values_list("status", flat=True)) == {"mailed": 1, "failed": 1, "queued": 1}
