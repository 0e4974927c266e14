"""Batches rendered by real Celery worker processes, on the configured database and broker.

With DATABASE_URL and REDIS_URL set this is PostgreSQL and Redis; without them the embedded
SQLite file and kombu's filesystem broker. The workers consume the default queues: with the
render queue routed (CELERY_TASK_ROUTES), settings must list it in CELERY_TASK_QUEUES.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.files.storage import default_storage
from pypdf import PdfReader

from campaigns.models import Batch, Card
from campaigns.services.batches import batch_create
from tests.campaigns.test_batches import CODE, manifest_rows
from tests.campaigns.test_cards_workflow import TOO_LONG, make_card
from tests.factories import make_customer
from tests.support.worker import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DUE_BY = dt.date(2025, 3, 31)


@pytest.fixture(autouse=True)
def shared_media(media_root, monkeypatch):
    """The workers write the files where this process reads them (child_env copies os.environ)."""
    monkeypatch.setenv("MEDIA_ROOT", media_root)


def make_cards(n: int) -> list[Card]:
    return [make_card(customer=make_customer(last_name=f"Worker {i:02d}")) for i in range(n)]


def status(batch: Batch) -> str:
    batch.refresh_from_db()
    return batch.status


def read(file) -> bytes:
    with default_storage.open(file.name, "rb") as f:
        return f.read()


def codes_per_page(content: bytes) -> Counter[str]:
    counts: Counter[str] = Counter()
    for page in PdfReader(io.BytesIO(content)).pages:
        counts.update(set(CODE.findall(page.extract_text() or "")))
    return counts


def assert_every_card_exactly_once(batch: Batch) -> None:
    expected = [f"{batch.code}-{n:03d}" for n in range(1, batch.card_count + 1)]
    # A folded card is two pages, each carrying its code: every code on exactly two pages.
    assert codes_per_page(read(batch.cards_pdf)) == dict.fromkeys(expected, 2)
    assert len(PdfReader(io.BytesIO(read(batch.cards_pdf))).pages) == 2 * batch.card_count
    assert codes_per_page(read(batch.labels_pdf)) == dict.fromkeys(expected, 1)
    assert [row["sequence_code"] for row in manifest_rows(read(batch.manifest_csv))] == expected
    assert (batch.chunks_done, batch.chunk_count) == (batch.chunk_count, batch.chunks.count())


def test_a_batch_rendered_by_two_workers_has_every_card_once(worker_factory, settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 2
    make_cards(8)
    first, second = worker_factory(), worker_factory()

    # Not in a transaction: batch_create's own commit queues the chunks.
    batch = batch_create(due_by=DUE_BY, sheet="card", labels="c6", by=None)
    assert batch.chunk_count == 5  # 4 of cards, 1 of labels

    wait_until(lambda: status(batch) == "ready", timeout=180, what=f"batch ready ({first.log()}\n{second.log()})")
    assert_every_card_exactly_once(batch)
    assert "render_batch_chunk" in first.log()
    assert "render_batch_chunk" in second.log()


def test_a_batch_whose_worker_is_killed_half_way_completes_when_a_new_worker_starts(worker_factory, settings):
    settings.NURTURE_BATCH_CHUNK_SIZE = 1
    make_cards(12)
    doomed = worker_factory()
    batch = batch_create(due_by=DUE_BY, sheet="card", labels="c6", by=None)
    assert batch.chunk_count == 13  # 12 of cards, 1 of labels

    def some_rendered() -> bool:
        batch.refresh_from_db()
        return batch.chunks_done >= 1

    wait_until(some_rendered, timeout=120, interval=0.05, what="the first chunk")
    doomed.kill()  # SIGKILL to the whole process group, mid-chunk
    batch.refresh_from_db()
    assert batch.status == "rendering"
    assert 1 <= batch.chunks_done < batch.chunk_count

    # The new worker queues again whatever the dead one held (its message is lost with the
    # filesystem broker, and Redis would give it back only after the visibility timeout).
    worker_factory(concurrency=2)

    wait_until(lambda: status(batch) == "ready", timeout=180, what="batch ready after the restart")
    assert_every_card_exactly_once(batch)


def test_a_card_that_does_not_fit_fails_the_batch_at_once_and_frees_the_other_cards(worker_factory):
    fine = make_card(customer=make_customer(last_name="Aardvark"))
    sneaky = make_card(message=TOO_LONG, customer=make_customer(last_name="Zebra"))  # fits=True: a stale check
    worker_factory()

    batch = batch_create(due_by=DUE_BY, sheet="card", labels="c6", by=None)

    wait_until(lambda: status(batch) == "failed", timeout=120, what="the batch to fail")
    assert f"The card {batch.code}-002 does not fit" in batch.error
    fine.refresh_from_db()
    sneaky.refresh_from_db()
    assert (fine.status, fine.batch, fine.sequence) == ("approved", None, None)
    assert (sneaky.status, sneaky.fits, sneaky.batch) == ("draft", False, None)
