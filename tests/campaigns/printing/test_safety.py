"""Whatever people type is printed as text: it never makes WeasyPrint read a file or the network."""

from pathlib import Path

import pytest
from pypdf.generic import IndirectObject, StreamObject

from campaigns.printing import PrintCard, Recipient, render_cards_pdf, render_labels_pdf
from campaigns.printing.fetcher import card_asset_fetcher
from tests.campaigns.printing import RecordingServer, design, page_texts, read

PASSWD_LINE = Path("/etc/passwd").read_text().splitlines()[0].encode()


def hostile(url: str) -> str:
    return "\n".join(
        [
            'Dear <img src="file:///etc/passwd">,',
            '<link rel=attachment href="file:///etc/passwd">',
            f"<style>@import url({url}/style.css);</style> @import url({url}/x.css);",
            f'<img src="{url}/x.png"> <a rel="attachment" href="file:///etc/passwd">see</a>',
            f'<object data="file:///etc/passwd"></object><iframe src="{url}/frame"></iframe>',
            "</div></div></section><script>alert(1)</script> {{ first_name }} {% now 'Y' %} &amp; &lt;",
        ]
    )


@pytest.fixture
def spy(monkeypatch):
    """Every fetcher the renderer creates, to see what it was asked for."""
    fetchers = []

    def make():
        fetcher = card_asset_fetcher()
        fetchers.append(fetcher)
        return fetcher

    monkeypatch.setattr("campaigns.printing.render.card_asset_fetcher", make)
    return fetchers


def all_objects_data(pdf: bytes) -> bytes:
    """Every object of the PDF, streams decoded, so that nothing compressed can hide."""
    reader = read(pdf)
    numbers = {(number, generation) for generation, table in reader.xref.items() for number in table}
    numbers |= {(number, 0) for number in reader.xref_objStm}
    chunks = [pdf]
    for number, generation in sorted(numbers):
        obj = reader.get_object(IndirectObject(number, generation, reader))
        chunks.append(obj.get_data() if isinstance(obj, StreamObject) else repr(obj).encode())
    return b"\n".join(chunks)


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("sheet", ["card", "a4"])
@pytest.mark.parametrize(("fmt", "artwork"), [("a6_folded", "anniversary"), ("4x6_postcard", "congratulations")])
def test_hostile_text_is_printed_as_text_and_fetches_nothing(spy, sheet, fmt, artwork):
    with RecordingServer() as server:
        text = hostile(server.url)
        card = PrintCard(
            sequence_code="B1-001",
            design=design(format=fmt, artwork=artwork, typeface="sans", headline='<img src="file:///etc/passwd">'),
            message=text,
            recipient=Recipient(name='<img src="file:///etc/passwd">', company=f'<img src="{server.url}/c.png">'),
        )
        pdf = render_cards_pdf([card], sheet=sheet)
        labels = render_labels_pdf([card], labels="c6")
    assert server.requests == []

    asked = [url for fetcher in spy for url in fetcher.fetched + fetcher.refused]
    assert asked, "the renderer used the spied fetcher"
    assert not [url for url in asked if "passwd" in url or "127.0.0.1" in url]

    texts = page_texts(pdf)
    printed = squash("".join(texts))
    # The message is on the card, character for character (line breaks aside).
    assert squash(text) in printed
    assert squash('<img src="file:///etc/passwd">') in squash(texts[0])  # the headline
    assert squash('<img src="file:///etc/passwd">') in squash("".join(page_texts(labels)))

    for document in (pdf, labels):
        reader = read(document)
        assert reader.attachments == {}
        assert "/Names" not in reader.root_object
        assert all("/Annots" not in page for page in reader.pages)
        data = all_objects_data(document)
        assert b"/EmbeddedFile" not in data and b"/FileAttachment" not in data
        assert PASSWD_LINE not in data


def test_the_document_uses_only_our_own_assets(spy):
    render_cards_pdf([PrintCard("B1-001", design(artwork="thank_you"), "Hello", Recipient("Ann"))], sheet="card")
    fetched = [url for fetcher in spy for url in fetcher.fetched]
    assert fetched and all(url.startswith("data:image/svg+xml") for url in fetched)
    assert not [url for fetcher in spy for url in fetcher.refused]
