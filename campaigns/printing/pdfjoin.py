"""Joining rendered chunk PDFs into one PDF without holding them all in memory.

A batch is rendered in chunks, in parallel, and each chunk's PDF is stored as a *fragment*: its
pages and every object they use, renumbered 1..n, with each reference written as a fixed-width
number whose position is listed in the fragment's header (``pdf_fragment``). Joining fragments
(``PdfJoiner``, ``join_fragments``) is then a matter of adding an offset to those numbers and
copying bytes: the parsing (pypdf, pure Python, about a tenth of a second per chunk) happens in
the chunk tasks, in parallel, and the join that waits for the last chunk holds one fragment in
memory at a time. Nothing with a date or a random ID is written, so the same chunks always join
to the same bytes.

This module knows nothing of batches or the database: bytes in, bytes out.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import IO, Any

from pypdf import PdfReader, generic

_FRAGMENT_MAGIC = b"%nurture-fragment-1\n"
_REF_WIDTH = 10
_PAGE_TREE = 0  # a fragment's reference to the page tree its pages will hang from
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


class _FragmentWriter:
    def __init__(self, reader: Any) -> None:
        self.names: dict[str, bytes] = {}
        self.reader = reader
        self.numbers: dict[tuple[int, int], int] = {}
        self.queue: list[Any] = []
        self.body = bytearray()
        self.objects: list[tuple[int, int]] = []
        self.refs: list[int] = []
        self.count = 0

    def _number(self, ref: Any) -> int:
        self.count += 1
        self.numbers[(ref.idnum, ref.generation)] = self.count
        return self.count

    def write(self) -> bytes:
        catalog: Any = self.reader.trailer["/Root"].get_object()
        self._map_page_tree(catalog.raw_get("/Pages"))
        pages = list(self.reader.pages)
        for page in pages:  # pages first: numbers 1..p
            self._number(page.indirect_reference)
        for page in pages:
            entries = {key: value for key, value in page.items() if key != "/Parent"}
            parent = page.get("/Parent")
            while parent is not None:  # what a page inherits from its old tree, it now carries
                node = parent.get_object()
                for key in _INHERITED:
                    if key not in entries and key in node:
                        entries[key] = node.raw_get(key)
                parent = node.get("/Parent")
            start = len(self.body)
            self._dict(entries, parent_tree=True)
            self.objects.append((start, len(self.body) - start))
        while self.queue:
            ref = self.queue.pop(0)
            start = len(self.body)
            self._emit(ref.get_object())
            self.objects.append((start, len(self.body) - start))
        header = json.dumps({"pages": len(pages), "objects": self.objects, "refs": self.refs}, separators=(",", ":"))
        return _FRAGMENT_MAGIC + header.encode() + b"\n" + bytes(self.body)

    def _map_page_tree(self, ref: Any) -> None:
        self.numbers[(ref.idnum, ref.generation)] = _PAGE_TREE
        node = ref.get_object()
        for kid in node.raw_get("/Kids").get_object() if "/Kids" in node else []:
            if kid.get_object().get("/Type") == "/Pages":
                self._map_page_tree(kid)

    def _ref(self, ref: Any) -> None:
        key = (ref.idnum, ref.generation)
        if key not in self.numbers:
            self._number(ref)
            self.queue.append(ref)
        self.refs.append(len(self.body))
        self.body += b"%010d 0 R" % self.numbers[key]

    def _dict(self, entries: Any, *, parent_tree: bool = False, length: int | None = None) -> None:
        self.body += b"<<"
        for key, value in entries.items():
            self.body += self._leaf(key) + b" "
            self._emit(value)
            self.body += b"\n"
        if parent_tree:
            self.body += b"/Parent "
            self.refs.append(len(self.body))
            self.body += b"%010d 0 R" % _PAGE_TREE
        if length is not None:
            self.body += b"/Length %d" % length
        self.body += b">>"

    def _emit(self, obj: Any) -> None:
        if isinstance(obj, generic.IndirectObject):
            self._ref(obj)
        elif isinstance(obj, generic.StreamObject):
            data: bytes = obj._data  # as stored: still compressed
            self._dict({key: value for key, value in obj.items() if key != "/Length"}, length=len(data))
            self.body += b"\nstream\n" + data + b"\nendstream"
        elif isinstance(obj, generic.DictionaryObject):
            self._dict(obj)
        elif isinstance(obj, generic.ArrayObject):
            self.body += b"["
            for item in obj:
                self._emit(item)
                self.body += b" "
            self.body += b"]"
        else:
            self.body += self._leaf(obj)

    def _leaf(self, obj: Any) -> bytes:
        if isinstance(obj, generic.NameObject):  # names repeat: escape each once
            name = self.names.get(obj)
            if name is None:
                name = self.names[obj] = self._written(obj)
            return name
        if isinstance(obj, generic.NumberObject):
            return b"%d" % obj
        return self._written(obj)

    @staticmethod
    def _written(obj: Any) -> bytes:
        buffer = io.BytesIO()
        obj.write_to_stream(buffer)
        return buffer.getvalue()


def pdf_fragment(pdf: bytes) -> bytes:
    """A PDF's pages, ready to be joined by PdfJoiner."""
    return _FragmentWriter(PdfReader(io.BytesIO(pdf))).write()


class PdfJoiner:
    """Writes one PDF from fragments, in order: pages hang from one page tree, objects are renumbered."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.position = 0
        # Index = object number: 0 is the head of the free list, 1 the catalog, 2 the page tree.
        self.offsets: list[int] = [0, 0, 0]
        self.kids: list[int] = []
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.position += len(data)

    def add(self, fragment: bytes) -> None:
        if not fragment.startswith(_FRAGMENT_MAGIC):
            raise ValueError("not a PDF fragment")
        newline = fragment.index(b"\n", len(_FRAGMENT_MAGIC))
        header = json.loads(fragment[len(_FRAGMENT_MAGIC) : newline])
        body = memoryview(fragment)[newline + 1 :]
        base = len(self.offsets) - 1  # local number n becomes base + n
        self.kids += range(base + 1, base + 1 + header["pages"])
        refs = iter(header["refs"])
        ref = next(refs, None)
        for local, (start, length) in enumerate(header["objects"], start=1):
            self.offsets.append(self.position)
            self._write(b"%d 0 obj\n" % (base + local))
            end, cursor = start + length, start
            while ref is not None and ref < end:
                self._write(body[cursor:ref])
                number = int(bytes(body[ref : ref + _REF_WIDTH]))
                self._write(b"%d" % (2 if number == _PAGE_TREE else base + number))
                cursor = ref + _REF_WIDTH
                ref = next(refs, None)
            self._write(body[cursor:end])
            self._write(b"\nendobj\n")

    def _object(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.position
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    def close(self) -> None:
        kids = b" ".join(b"%d 0 R" % number for number in self.kids)
        self._object(2, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(self.kids), kids))
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        xref = self.position
        entries = [b"xref\n0 %d\n" % len(self.offsets), b"0000000000 65535 f \n"]
        entries += [b"%010d 00000 n \n" % offset for offset in self.offsets[1:]]
        self._write(b"".join(entries))
        self._write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self.offsets), xref))


def join_fragments(fragments: Iterable[bytes], out: IO[bytes]) -> None:
    joiner = PdfJoiner(out)
    for fragment in fragments:
        joiner.add(fragment)
    joiner.close()


def join_pdfs(parts: Iterable[bytes], out: IO[bytes]) -> None:
    """Concatenate PDFs page by page into `out`."""
    join_fragments((pdf_fragment(part) for part in parts), out)
