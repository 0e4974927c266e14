"""Documents that are not cards (the monthly report pack): HTML in, an A4 PDF out.

The HTML carries its styles inline and its images as data: URLs (the charts are SVG). WeasyPrint
reads through our fetcher with no folder allowed, so nothing but those images is ever read.
"""

from __future__ import annotations

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from campaigns.printing.fetcher import CardAssetFetcher


def render_document_pdf(html: str) -> bytes:
    """The document as PDF bytes; equal HTML gives equal bytes (the /ID is a hash of the content)."""
    fetcher = CardAssetFetcher(())
    document = HTML(string=html, url_fetcher=fetcher).render(font_config=FontConfiguration())
    pdf: bytes = document.write_pdf(pdf_identifier=True)
    return pdf
