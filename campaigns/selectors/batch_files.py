"""A print batch's files for the batch page: its progress (files done of total, cards per second,
time left), what can be downloaded already, and all of it as one ZIP, streamed.

The ZIP is written as it is sent, a file at a time in blocks of a megabyte: a batch of 100,000
cards (hundreds of megabytes of PDF) is never held in memory or written to disk first. PDFs are
compressed already, so the entries are stored, not deflated.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.files.storage import default_storage

from campaigns.models import Batch, BatchFile
from campaigns.statuses import BATCH_DOWNLOADABLE

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Download:
    """A file of a batch: what the download is called, and where it is stored."""

    kind: str  # "file" (a print file), "labels", "manifest", "zones", "cards" (one cards PDF)
    filename: str
    stored: str
    index: int = 0


def batch_print_files(batch: Batch) -> list[BatchFile]:
    return list(batch.files.order_by("index"))


def batch_downloads(batch: Batch) -> list[Download]:
    """Every file of the batch that is there to download now: each print file once it is joined,
    then (once the batch is ready) its labels, manifest and zones. A batch built before print
    files existed has its one cards PDF instead."""
    downloads = [
        Download("file", print_file.download_name, print_file.pdf.name, print_file.index)
        for print_file in batch_print_files(batch)
        if print_file.pdf
    ]
    if batch.status in BATCH_DOWNLOADABLE:
        if not downloads and batch.cards_pdf:
            downloads.append(Download("cards", f"{batch.code}-cards.pdf", batch.cards_pdf.name))
        for kind, field in (("labels", "labels_pdf"), ("manifest", "manifest_csv"), ("zones", "zones_csv")):
            file = getattr(batch, field)
            if file:
                downloads.append(Download(kind, f"{batch.code}-{kind}{file.name[file.name.rfind('.') :]}", file.name))
    return downloads


def batch_progress(batch: Batch, *, now: dt.datetime) -> dict[str, Any]:
    """Files done of total, cards done, cards per second and seconds left (None until known)."""
    rate: float | None = None
    if batch.started_at is not None and batch.cards_done:
        until = batch.rendered_at if batch.rendered_at is not None else now
        elapsed = (until - batch.started_at).total_seconds()
        rate = batch.cards_done / elapsed if elapsed > 0 else None
    left: float | None = None
    if rate and batch.status not in BATCH_DOWNLOADABLE:
        left = (batch.card_count - batch.cards_done) / rate
    elif batch.status in BATCH_DOWNLOADABLE:
        left = 0.0
    return {
        "status": batch.status,
        "card_count": batch.card_count,
        "cards_done": batch.cards_done,
        "chunk_count": batch.chunk_count,
        "chunks_done": batch.chunks_done,
        "file_count": batch.file_count,
        "files_done": batch.files_done,
        "cards_per_second": round(rate, 1) if rate is not None else None,
        "seconds_left": round(left) if left is not None else None,
        "error": batch.error,
    }


class _Pipe:
    """A write-only stream whose bytes are collected and handed out by ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def batch_zip(downloads: list[Download]) -> Iterator[bytes]:
    """The files as one ZIP, produced as it is read (entries stored, ZIP64 where needed)."""
    pipe = _Pipe()
    # An unseekable stream: zipfile writes each entry's sizes after its data.
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for download in downloads:
            info = zipfile.ZipInfo(download.filename, date_time=(1980, 1, 1, 0, 0, 0))
            with (
                default_storage.open(download.stored, "rb") as source,
                archive.open(info, "w", force_zip64=True) as entry,
            ):
                while block := source.read(_BLOCK):
                    entry.write(block)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
