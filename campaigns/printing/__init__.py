"""Greeting cards on paper: message templates, fit checks, print-ready PDFs and their joining.

Plain data in, bytes out: this package never touches the database (callers turn rows into the
dataclasses it takes). The rest of the project imports from here, not from the modules:

- message templates (messages.py, the locked-down template language of card messages):
  ``check_template``, ``render_message``, ``merge_fields``, ``MessageTemplateError``, and the
  limits: ``MESSAGE_MAX_LENGTH`` (a card's message), ``TEMPLATE_MAX_LENGTH``; the merge fields
  with what each holds, ``MERGE_FIELD_HELP``;
- whether a message fits its card, measured by laying it out (fit.py): ``check_fit``,
  ``FitResult``;
- what the renderer takes (specs.py): ``DesignSpec``, ``PrintCard``, ``Recipient``;
- cards, address labels and the manifest as bytes (render.py): ``render_cards_pdf`` (raises
  ``CardDoesNotFit``), ``render_cards_fragment`` (the same pages as a fragment, each design's
  outside rendered once and reused: ``outside_pdf``), ``render_labels_pdf``,
  ``render_manifest_csv``, ``render_zones_csv`` and ``zone_counts`` (cards per country and
  postal zone),
  ``render_design_preview_pdf``, ``render_design_preview_png``;
- every size of cards, sheets and labels (formats.py): ``imposition``, ``label_stock``;
- joining chunk PDFs without holding them all in memory (pdfjoin.py): ``pdf_fragment``,
  ``join_fragments``, ``join_pdfs``;
- the front artworks, one registry (artworks.py): ``ARTWORKS``, ``Artwork``;
- documents that are not cards, such as the monthly report pack (documents.py):
  ``render_document_pdf``.

fetcher.py holds the only files WeasyPrint may read while rendering; it is the renderer's own.
"""

from campaigns.printing.artworks import ARTWORKS, Artwork
from campaigns.printing.documents import render_document_pdf
from campaigns.printing.fit import FitResult, check_fit
from campaigns.printing.formats import imposition, label_stock
from campaigns.printing.messages import (
    MERGE_FIELD_HELP,
    MESSAGE_MAX_LENGTH,
    TEMPLATE_MAX_LENGTH,
    MessageTemplateError,
    check_template,
    merge_fields,
    render_message,
    too_long_message,
)
from campaigns.printing.pdfjoin import join_fragments, join_pdfs, pdf_fragment
from campaigns.printing.render import (
    CardDoesNotFit,
    outside_pdf,
    render_cards_fragment,
    render_cards_pdf,
    render_design_preview_pdf,
    render_design_preview_png,
    render_labels_pdf,
    render_manifest_csv,
    render_zones_csv,
    zone_counts,
)
from campaigns.printing.specs import DesignSpec, PrintCard, Recipient

__all__ = [
    "ARTWORKS",
    "MERGE_FIELD_HELP",
    "MESSAGE_MAX_LENGTH",
    "TEMPLATE_MAX_LENGTH",
    "Artwork",
    "CardDoesNotFit",
    "DesignSpec",
    "FitResult",
    "MessageTemplateError",
    "PrintCard",
    "Recipient",
    "check_fit",
    "check_template",
    "imposition",
    "join_fragments",
    "join_pdfs",
    "label_stock",
    "merge_fields",
    "outside_pdf",
    "pdf_fragment",
    "render_cards_fragment",
    "render_cards_pdf",
    "render_design_preview_pdf",
    "render_design_preview_png",
    "render_document_pdf",
    "render_labels_pdf",
    "render_manifest_csv",
    "render_message",
    "render_zones_csv",
    "too_long_message",
    "zone_counts",
]
