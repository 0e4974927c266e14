"""Print batches of any size: presorted order, print files joined as their chunks finish, the
count per postal zone, progress, and every file as one streamed ZIP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from pypdf import PdfReader

from campaigns.models import Batch, BatchChunk, BatchFile, Card
from campaigns.printing import check_fit, imposition
from campaigns.services import cards as cards_service
from campaigns.services.batches import (
    BatchError,
    batch_fail,
    batch_finish,
    batch_join_files,
    batch_render_chunk,
    batch_reprint,
    file_size,
)
from campaigns.services.cards import cards_check_fit
from tests.campaigns.test_batches import build, cards, manifest_rows, pdf_codes, render, stored
from tests.campaigns.test_cards_workflow import make_card
from tests.factories import make_customer, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

# (country, postal code) of cards made in an order that is not the postal one.
ADDRESSES = [
    ("US", "10001"),
    ("GB", "SW1A 1AA"),
    ("DE", "10115"),
    ("US", "94105-1234"),
    ("GB", "BS1 4RN"),
    ("US", "10003"),
    ("DE", "80331"),
    ("GB", "SW1A 2AA"),
]


@pytest.fixture
def small_files(settings):
    """Chunks of 2 cards, print files of at most 4 cards."""
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    settings.NURTURE_BATCH_FILE_SIZE = 4


def addressed_cards() -> list[Card]:
    return [
        make_card(customer=make_customer(last_name=f"Zed {i}", country=country, postal_code=code))
        for i, (country, code) in enumerate(ADDRESSES)
    ]


def in_sequence(batch: Batch) -> list[Card]:
    return list(Card.objects.filter(batch=batch).order_by("sequence"))


def zones_rows(batch: Batch) -> list[list[str]]:
    return list(csv.reader(io.StringIO(stored(batch.zones_csv).decode("utf-8"))))


# --- Order ----------------------------------------------------------------------------------------


def test_presorted_batches_number_cards_by_country_and_postal_code_and_labels_and_manifest_follow():
    addressed_cards()

    batch = render(build(order="postal"))

    numbered = [(card.country, card.postal_code) for card in in_sequence(batch)]
    assert numbered == sorted(ADDRESSES)
    codes = [card.sequence_code for card in in_sequence(batch)]
    assert [row["sequence_code"] for row in manifest_rows(stored(batch.manifest_csv))] == codes
    assert [(row["country"], row["postal_code"]) for row in manifest_rows(stored(batch.manifest_csv))] == numbered
    assert pdf_codes(stored(batch.labels_pdf)) == codes
    assert pdf_codes(stored(batch.cards_pdf))[::2] == codes


def test_the_zones_file_counts_cards_per_country_and_postal_zone():
    addressed_cards()

    batch = render(build(order="postal"))

    assert zones_rows(batch) == [
        ["country", "postal_zone", "cards"],
        ["DE", "10", "1"],
        ["DE", "80", "1"],
        ["GB", "BS1", "1"],
        ["GB", "SW1A", "2"],
        ["US", "100", "2"],
        ["US", "941", "1"],
        ["total", "", "8"],
    ]
    zones = {row["postal_zone"] for row in manifest_rows(stored(batch.manifest_csv))}
    assert zones == {"10", "80", "BS1", "SW1A", "100", "941"}


def test_a_batch_by_account_manager_groups_each_managers_cards():
    anna, bert = make_user("anna"), make_user("bert")
    anna.last_name, bert.last_name = "Alder", "Birch"
    anna.save()
    bert.save()
    for i, manager in enumerate([bert, None, anna, bert, anna]):
        make_card(customer=make_customer(last_name=f"Zed {i}", account_manager=manager))

    batch = build(order="manager")

    managers = [card.touchpoint.customer.account_manager for card in in_sequence(batch)]
    assert managers == [anna, anna, bert, bert, None]
    assert batch.order == "manager"


def test_an_unknown_order_is_refused_by_name():
    cards(1)
    with pytest.raises(BatchError, match="Unknown order 'zip'"):
        build(order="zip")
    assert not Batch.objects.exists()


def test_a_failed_presorted_batch_renders_again_presorted():
    addressed_cards()
    failed = build(order="postal")
    batch_fail(batch_id=failed.pk, error="boom")

    retry = render(Batch.objects.get(pk=build(order="postal").pk))

    assert [(card.country, card.postal_code) for card in in_sequence(retry)] == sorted(ADDRESSES)


# --- Print files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunk", "most", "sheet", "expected"),
    [
        (50, 500, "card", (50, 500)),
        (50, 120, "card", (50, 100)),  # a whole number of chunks, never more than the setting
        (50, 30, "card", (30, 30)),  # a file smaller than a chunk makes the chunks smaller
        (50, 500, "a4", (50, 500)),
        (50, 3, "a4", (2, 2)),  # whole sheets (two A6 postcards on an A4 sheet)
        (50, 1, "a4", (2, 2)),  # never less than one sheet
    ],
)
def test_print_files_are_whole_chunks_of_whole_sheets(settings, chunk, most, sheet, expected):
    assert imposition("a6_postcard", "a4").per_sheet == 2
    settings.NURTURE_BATCH_CHUNK_SIZE = chunk
    settings.NURTURE_BATCH_FILE_SIZE = most
    assert file_size(sheet=sheet, formats=["a6_postcard"]) == expected


@pytest.mark.usefixtures("small_files")
def test_a_batch_is_cut_into_print_files_of_at_most_n_cards():
    cards(9)

    batch = build()

    files = list(batch.files.order_by("index").values_list("first_sequence", "last_sequence"))
    assert files == [(1, 4), (5, 8), (9, 9)]
    assert (batch.file_size, batch.file_count, batch.files_done) == (4, 3, 0)


@pytest.mark.usefixtures("small_files")
def test_each_print_file_is_joined_as_soon_as_its_chunks_are_rendered(superuser_client):
    cards(9)
    batch = build()

    for index in (0, 1, 2):  # the first three cards chunks: cards 1-6
        assert batch_render_chunk(batch_id=batch.pk, index=index)
    assert batch_join_files(batch_id=batch.pk, chunk_index=2) == 0  # cards 5-6: its file is not complete
    assert batch_join_files(batch_id=batch.pk, chunk_index=1) == 1  # cards 3-4: the last of file 1
    assert batch_join_files(batch_id=batch.pk) == 0  # joined once, whatever calls it again

    batch.refresh_from_db()
    assert (batch.status, batch.files_done, batch.cards_done) == ("rendering", 1, 6)
    first = BatchFile.objects.get(batch=batch, index=0)
    pdf = stored(first.pdf)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 8
    assert pdf_codes(pdf)[::2] == [f"{batch.code}-{n:03d}" for n in range(1, 5)]
    # Its chunks' fragments are gone: the print file holds their pages.
    assert not any(BatchChunk.objects.filter(batch=batch, index__in=(0, 1)).values_list("pdf", flat=True))
    # Downloadable while the rest of the batch renders.
    response = superuser_client.get(reverse("admin:campaigns_batch_download_file", args=[batch.pk, 1]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf
    not_yet = superuser_client.get(reverse("admin:campaigns_batch_download_file", args=[batch.pk, 2]), follow=True)
    assert "not there yet" in not_yet.content.decode()


@pytest.mark.usefixtures("small_files")
def test_finishing_joins_a_file_whose_last_chunks_worker_died_before_joining_it():
    cards(5)
    batch = build()
    for index in range(batch.chunk_count):
        batch_render_chunk(batch_id=batch.pk, index=index)  # and never joined

    assert batch_finish(batch_id=batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.files_done, batch.file_count, batch.cards_done) == ("ready", 2, 2, 5)
    assert not batch.cards_pdf  # several print files: no single cards PDF
    codes = []
    for print_file in batch.files.order_by("index"):
        codes += pdf_codes(stored(print_file.pdf))[::2]
    assert codes == [card.sequence_code for card in in_sequence(batch)]


@pytest.mark.usefixtures("small_files")
def test_a_failed_batch_deletes_its_print_files(django_capture_on_commit_callbacks):
    cards(5)
    batch = build()
    for index in (0, 1):
        batch_render_chunk(batch_id=batch.pk, index=index)
    batch_join_files(batch_id=batch.pk)
    name = BatchFile.objects.get(batch=batch, index=0).pdf.name
    assert default_storage.exists(name)

    with django_capture_on_commit_callbacks(execute=True):
        batch_fail(batch_id=batch.pk, error="boom")

    assert not default_storage.exists(name)
    assert not BatchFile.objects.filter(batch=batch).exists()


@pytest.mark.usefixtures("small_files")
def test_a_lost_print_file_renders_again_with_the_same_bytes():
    cards(6)
    batch = render(build())
    print_file = batch.files.get(index=1)
    before = stored(print_file.pdf)
    default_storage.delete(print_file.pdf.name)

    batch_reprint(batch=batch)

    assert stored(BatchFile.objects.get(pk=print_file.pk).pdf) == before


@pytest.mark.usefixtures("small_files")
def test_the_command_writes_every_print_file_as_one_pdf(tmp_path):
    cards(6)
    out = tmp_path / "cards.pdf"

    call_command("print_batch", "--due-by", "2025-03-31", "--output", str(out), "--order", "postal", verbosity=0)

    batch = Batch.objects.get()
    assert batch.file_count == 2
    assert pdf_codes(out.read_bytes())[::2] == [card.sequence_code for card in in_sequence(batch)]


# --- Progress and downloads ---------------------------------------------------------------------


@pytest.mark.usefixtures("small_files")
def test_progress_gives_files_done_cards_per_second_and_time_left(superuser_client):
    cards(8)
    with time_machine.travel(dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False) as clock:
        batch = build()
        url = reverse("admin:campaigns_batch_progress", args=[batch.pk])
        assert superuser_client.get(url).json()["cards_per_second"] is None
        for index in (0, 1):
            batch_render_chunk(batch_id=batch.pk, index=index)
        batch_join_files(batch_id=batch.pk)
        clock.shift(2)

        progress = superuser_client.get(url).json()

    assert progress["status"] == "rendering"
    assert (progress["files_done"], progress["file_count"]) == (1, 2)
    assert (progress["cards_done"], progress["card_count"]) == (4, 8)
    assert progress["cards_per_second"] == 2.0
    assert progress["seconds_left"] == 2
    assert [download["label"] for download in progress["downloads"]] == ["print file 1 of 2"]
    assert progress["zip_url"]


@pytest.mark.usefixtures("small_files")
def test_the_batch_page_polls_its_progress_with_a_static_script(superuser_client):
    cards(3)
    batch = build()

    page = superuser_client.get(reverse("admin:campaigns_batch_change", args=[batch.pk])).content.decode()

    assert "config/batch-progress.js" in page
    assert f'data-progress-url="{reverse("admin:campaigns_batch_progress", args=[batch.pk])}"' in page
    assert "<script>" not in page  # nothing inline: the Content-Security-Policy runs none


@pytest.mark.usefixtures("small_files")
def test_every_file_downloads_as_one_zip(superuser_client):
    addressed_cards()
    batch = render(build(order="postal"))

    response = superuser_client.get(reverse("admin:campaigns_batch_download_zip", args=[batch.pk]))

    assert response.status_code == 200
    assert response.streaming
    assert f'filename="{batch.code}-files.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == [
        f"{batch.code}-cards-001.pdf",
        f"{batch.code}-cards-002.pdf",
        f"{batch.code}-labels.pdf",
        f"{batch.code}-manifest.csv",
        f"{batch.code}-zones.csv",
    ]
    for print_file in batch.files.order_by("index"):
        assert archive.read(print_file.download_name) == stored(print_file.pdf)
    assert archive.read(f"{batch.code}-zones.csv") == stored(batch.zones_csv)


def test_zip_downloads_need_the_view_permission(staff_client):
    cards(1)
    batch = render(build())
    assert staff_client.get(reverse("admin:campaigns_batch_download_zip", args=[batch.pk])).status_code == 403


def test_the_build_page_builds_a_presorted_batch(superuser_client):
    addressed_cards()

    response = superuser_client.post(
        reverse("admin:campaigns_batch_build"),
        {"due_by": "2025-03-31", "sheet": "card", "labels": "l7160", "order": "postal", "build": "1"},
    )

    batch = Batch.objects.get()
    assert response.status_code == 302
    assert batch.order == "postal"
    assert [(card.country, card.postal_code) for card in in_sequence(batch)] == sorted(ADDRESSES)


def test_the_fit_check_lays_out_each_distinct_message_once(monkeypatch):
    laid_out = []

    def counting(message, design):
        laid_out.append(message)
        return check_fit(message, design)

    monkeypatch.setattr(cards_service, "check_fit", counting)
    same = [make_card(fits=None, message="Season's greetings!") for _ in range(4)]
    other = make_card(fits=None, message="Happy holidays, Ann!")

    assert cards_check_fit(card_ids=[card.pk for card in [*same, other]]) == 5

    assert sorted(laid_out) == ["Happy holidays, Ann!", "Season's greetings!"]
    assert set(Card.objects.values_list("fits", flat=True)) == {True}
