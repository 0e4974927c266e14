"""Joining rendered chunk PDFs into one PDF without holding them all in memory.

A batch is rendered in chunks, in parallel, and each chunk's PDF is stored as a *fragment*: its
pages and every object they use, renumbered 1..n, with each reference written as a fixed-width
number whose position is listed in the fragment's header (``pdf_fragment``). Joining fragments
(``PdfJoiner``, ``join_fragments``) is then a matter of adding an offset to those numbers and
copying bytes: the parsing (pypdf, pure Python, about a tenth of a second per chunk) happens in
the chunk tasks, in parallel, and the join that waits for the last chunk holds one fragment in
memory at a time. Nothing with a date or a random ID is written, so the same chunks always join
to the same bytes.

A fragment may also draw shared pages under some of its pages (``underlays``): each shared page
(a one-page PDF, such as the outside of a card design) becomes one form XObject in the fragment,
and every page that shows it references that object and draws it where it is told, before the
page's own content. The shared page is stored once per fragment, not once per page that shows it.

This module knows nothing of batches or the database: bytes in, bytes out.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from pypdf import PdfReader, generic

_FRAGMENT_MAGIC = b"%nurture-fragment-1\n"
_REF_WIDTH = 10
_PAGE_TREE = 0  # a fragment's reference to the page tree its pages will hang from
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
_FORM_NAME = "/NurtureShared"
# The sequence codes a page's layer marks for reuse are drawn with this opacity (cards.css, .seq):
# WeasyPrint draws each such box as a form XObject of its own after two ExtGStates named for it.
CODE_OPACITY = "0.99999"
_CODE_DRAWN = re.compile(rb"/(A%s) gs\s+/(a%s) gs\s+/(\S+) Do" % ((re.escape(CODE_OPACITY.encode()),) * 2))
# WeasyPrint's page content opens with its coordinate system: y downwards, CSS pixels.
_PAGE_SPACE = re.compile(rb"\A\s*((?:[-\d.]+ ){6}cm)\s+q\s+((?:[-\d.]+ ){6}cm)\s")
_PAGE_KEYS = ("/Type", "/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox", "/Rotate", "/Group")

#: A shared page placed under a page: (its key in ``forms``, x, top) in points, its top-left corner
#: from the top-left corner of the page's media box.
Underlay = tuple[str, float, float]


class NoCodeToReuse(ValueError):
    """A page that should lend its sequence codes to the page made before it marks none."""


class _Local:
    """A reference to an object this writer made (not one of a reader's): its number in the fragment."""

    def __init__(self, number: int) -> None:
        self.number = number


class _FragmentWriter:
    def __init__(
        self,
        reader: Any,
        forms: Mapping[str, bytes] | None = None,
        underlays: Mapping[int, Sequence[Underlay]] | None = None,
        outsides: Mapping[int, str] | None = None,
    ) -> None:
        self.names: dict[str, bytes] = {}
        self.reader = reader
        self.forms_source = forms or {}
        self.underlays = underlays or {}
        self.outsides = outsides or {}
        self.forms: dict[str, tuple[int, list[float]]] = {}  # key -> (number, bounding box)
        # Objects of several readers (the page's PDF and the shared pages): keyed by reader too.
        self.numbers: dict[tuple[int, int, int], int] = {}
        self.queue: list[Any] = []
        self.body = bytearray()
        self.objects: list[tuple[int, int]] = []
        self.refs: list[int] = []
        self.count = 0

    @staticmethod
    def _key(ref: Any) -> tuple[int, int, int]:
        return (id(ref.pdf), ref.idnum, ref.generation)

    def _number(self, ref: Any) -> int:
        self.count += 1
        self.numbers[self._key(ref)] = self.count
        return self.count

    def _new(self, obj: Any) -> _Local:
        """A number for an object made here; it is written after the pages, like the others."""
        self.count += 1
        self.queue.append(obj)
        return _Local(self.count)

    def write(self) -> bytes:
        catalog: Any = self.reader.trailer["/Root"].get_object()
        self._map_page_tree(catalog.raw_get("/Pages"))
        pages = list(self.reader.pages)
        # Each page of the PDF, and before those listed in `outsides` a page made here.
        order = [
            (made, index) for index in range(len(pages)) for made in (True, False) if not made or index in self.outsides
        ]
        for made, index in order:  # pages first: numbers 1..p
            if made:
                self.count += 1
            else:
                self._number(pages[index].indirect_reference)
        for made, index in order:
            page = pages[index]
            entries = {key: value for key, value in page.items() if key != "/Parent"}
            parent = page.get("/Parent")
            while parent is not None:  # what a page inherits from its old tree, it now carries
                node = parent.get_object()
                for key in _INHERITED:
                    if key not in entries and key in node:
                        entries[key] = node.raw_get(key)
                parent = node.get("/Parent")
            if made:
                entries = self._outside(entries, page, self.outsides[index])
            elif placed := self.underlays.get(index):
                entries = self._underlaid(entries, placed)
            start = len(self.body)
            self._dict(entries, parent_tree=True)
            self.objects.append((start, len(self.body) - start))
        while self.queue:
            item = self.queue.pop(0)
            start = len(self.body)
            self._emit(item.get_object() if isinstance(item, generic.IndirectObject) else item)
            self.objects.append((start, len(self.body) - start))
        header = json.dumps({"pages": len(order), "objects": self.objects, "refs": self.refs}, separators=(",", ":"))
        return _FRAGMENT_MAGIC + header.encode() + b"\n" + bytes(self.body)

    def _form(self, key: str) -> tuple[int, list[float]]:
        """The shared page `key` as a form XObject of this fragment: made once, then referenced."""
        known = self.forms.get(key)
        if known is not None:
            return known
        page: Any = PdfReader(io.BytesIO(self.forms_source[key])).pages[0]
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        form = generic.StreamObject()
        stream = contents.get_object() if contents is not None else None
        if isinstance(stream, generic.StreamObject):
            form._data = stream._data  # as stored, still compressed: only its filter comes along
            for name in ("/Filter", "/DecodeParms"):
                if name in stream:
                    form[generic.NameObject(name)] = stream.raw_get(name)
        else:
            form._data = zlib.compress(page.get_contents().get_data() if contents is not None else b"")
            form[generic.NameObject("/Filter")] = generic.NameObject("/FlateDecode")
        box = [float(value) for value in page.mediabox]
        form[generic.NameObject("/Type")] = generic.NameObject("/XObject")
        form[generic.NameObject("/Subtype")] = generic.NameObject("/Form")
        form[generic.NameObject("/BBox")] = generic.ArrayObject(generic.FloatObject(value) for value in box)
        form[generic.NameObject("/Resources")] = page.raw_get("/Resources") if "/Resources" in page else {}
        if "/Group" in page:
            form[generic.NameObject("/Group")] = page.raw_get("/Group")
        known = self.forms[key] = (self._new(form).number, box)
        return known

    def _underlaid(self, entries: dict[Any, Any], placed: Sequence[Underlay]) -> dict[Any, Any]:
        """A page's entries with the shared pages drawn first, then its own content."""
        media = [float(value) for value in entries["/MediaBox"]]
        resources = dict(entries["/Resources"].get_object().items()) if "/Resources" in entries else {}
        xobjects = (
            dict(resources[generic.NameObject("/XObject")].get_object().items()) if "/XObject" in resources else {}
        )
        drawing = bytearray()
        for key, x, top in placed:
            number, box = self._form(key)
            name = generic.NameObject(f"{_FORM_NAME}{number}")
            xobjects[name] = _Local(number)
            drawing += self._placement(number, box, media, x, top)
        resources[generic.NameObject("/XObject")] = xobjects
        underlay = generic.StreamObject()
        underlay._data = bytes(drawing)
        own = entries.get("/Contents")
        if own is None:
            own_list = []
        elif isinstance(own.get_object(), generic.ArrayObject):
            own_list = list(own.get_object())
        else:
            own_list = [own]
        return {
            **entries,
            generic.NameObject("/Resources"): resources,
            generic.NameObject("/Contents"): [self._new(underlay), *own_list],
        }

    def _outside(self, entries: dict[Any, Any], page: Any, key: str) -> dict[Any, Any]:
        """A page made before `page`, with its boxes: the shared page `key`, then the sequence codes
        that `page` draws (the same form XObjects, referenced, in the same place)."""
        content = page.get_contents().get_data() if "/Contents" in page else b""
        space = _PAGE_SPACE.match(content)
        codes = _CODE_DRAWN.findall(content)
        if space is None or not codes:
            raise NoCodeToReuse("the page marks no sequence code to reuse")
        resources = entries["/Resources"].get_object()
        xobjects, states = resources["/XObject"].get_object(), resources["/ExtGState"].get_object()
        number, box = self._form(key)
        media = [float(value) for value in entries["/MediaBox"]]
        drawing = bytearray(self._placement(number, box, media, 0.0, 0.0))
        drawing += b"q\n%s\nq\n%s\n" % space.groups()
        own_x: dict[Any, Any] = {generic.NameObject(f"{_FORM_NAME}{number}"): _Local(number)}
        own_states: dict[Any, Any] = {}
        for opaque, fill, name in codes:
            for state in (opaque, fill):
                own_states[generic.NameObject("/" + state.decode())] = states.raw_get("/" + state.decode())
            own_x[generic.NameObject("/" + name.decode())] = xobjects.raw_get("/" + name.decode())
            drawing += b"q\n/%s gs\n/%s gs\n/%s Do\nQ\n" % (opaque, fill, name)
        drawing += b"Q\nQ\n"
        stream = generic.StreamObject()
        stream._data = zlib.compress(bytes(drawing))
        stream[generic.NameObject("/Filter")] = generic.NameObject("/FlateDecode")
        made = {name: value for name, value in entries.items() if name in _PAGE_KEYS}
        made[generic.NameObject("/Resources")] = {
            generic.NameObject("/XObject"): own_x,
            generic.NameObject("/ExtGState"): own_states,
        }
        made[generic.NameObject("/Contents")] = self._new(stream)
        return made

    def _placement(self, number: int, box: list[float], media: list[float], x: float, top: float) -> bytes:
        """Drawing form `number` (of bounding box `box`) with its top-left corner at (x, top)."""
        e = media[0] + x - box[0]
        f = media[3] - top - (box[3] - box[1]) - box[1]
        return b"q 1 0 0 1 %s %s cm %s%d Do Q\n" % (_real(e), _real(f), _FORM_NAME.encode(), number)

    def _map_page_tree(self, ref: Any) -> None:
        self.numbers[self._key(ref)] = _PAGE_TREE
        node = ref.get_object()
        for kid in node.raw_get("/Kids").get_object() if "/Kids" in node else []:
            if kid.get_object().get("/Type") == "/Pages":
                self._map_page_tree(kid)

    def _ref(self, ref: Any) -> None:
        key = self._key(ref)
        if key not in self.numbers:
            self._number(ref)
            self.queue.append(ref)
        self._ref_number(self.numbers[key])

    def _ref_number(self, number: int) -> None:
        self.refs.append(len(self.body))
        self.body += b"%010d 0 R" % number

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
        elif isinstance(obj, _Local):
            self._ref_number(obj.number)
        elif isinstance(obj, generic.StreamObject):
            data: bytes = obj._data  # as stored: still compressed
            self._dict({key: value for key, value in obj.items() if key != "/Length"}, length=len(data))
            self.body += b"\nstream\n" + data + b"\nendstream"
        elif isinstance(obj, (generic.DictionaryObject, dict)):
            self._dict(obj)
        elif isinstance(obj, (generic.ArrayObject, list)):
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


def _real(value: float) -> bytes:
    return (f"{value:.4f}".rstrip("0").rstrip(".") or "0").encode()


def pdf_fragment(
    pdf: bytes,
    *,
    forms: Mapping[str, bytes] | None = None,
    underlays: Mapping[int, Sequence[Underlay]] | None = None,
    outsides: Mapping[int, str] | None = None,
) -> bytes:
    """A PDF's pages, ready to be joined by PdfJoiner.

    ``underlays``: by page index (from 0), the shared pages to draw under that page's content,
    each a key of ``forms`` (one-page PDFs) and where its top-left corner goes.
    ``outsides``: by page index, a shared page (a key of ``forms``, the page's size) to print on a
    page added before it, with the sequence codes the page marks (drawn at opacity CODE_OPACITY)
    drawn over it in the same place: the outside of a card before its inside. Raises NoCodeToReuse
    when such a page marks no code.
    """
    return _FragmentWriter(PdfReader(io.BytesIO(pdf)), forms, underlays, outsides).write()


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
